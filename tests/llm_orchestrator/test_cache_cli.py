"""`llm-orchestrator cache stats|clear [--expired]` on a real SQLite store (in-process)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from activities.cache import SqliteCache
from llm_orchestrator.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SqliteCache:
    """Three entries, one of them expired, in the file LLM_ORCHESTRATOR_CACHE names."""
    path = tmp_path / "cache.sqlite3"
    monkeypatch.setenv("LLM_ORCHESTRATOR_CACHE", str(path))
    cache = SqliteCache(path)
    cache.put("llm:a", {"output": "a"}, ttl_s=3600)
    cache.put("llm:b", {"output": "b"}, ttl_s=None)
    cache.put("llm:old", {"output": "old"}, ttl_s=0.05)
    time.sleep(0.1)
    return cache


def test_stats_counts_entries_and_expired_ones(
    capsys: pytest.CaptureFixture[str], store: SqliteCache
) -> None:
    code, out, _ = _run(capsys, "cache", "stats")
    assert code == 0
    assert f"store    {store.path}" in out
    assert "entries  3 (1 expired)" in out
    code, out, _ = _run(capsys, "cache", "stats", "--json")
    report = json.loads(out)
    assert (report["store"], report["entries"], report["expired"]) == (str(store.path), 3, 1)
    assert report["bytes"] > 0


def test_clear_expired_then_all(capsys: pytest.CaptureFixture[str], store: SqliteCache) -> None:
    code, _, err = _run(capsys, "cache", "clear", "--expired")
    assert code == 0
    assert f"removed 1 expired entries from {store.path}" in err
    assert store.get("llm:a") == {"output": "a"}
    assert store.stats().entries == 2
    code, _, err = _run(capsys, "cache", "clear")
    assert code == 0 and "removed 2 entries" in err
    assert store.stats().entries == 0


def test_the_cache_flag_wins_over_the_environment(
    capsys: pytest.CaptureFixture[str], store: SqliteCache, tmp_path: Path
) -> None:
    other = tmp_path / "other.sqlite3"
    code, out, _ = _run(capsys, "cache", "stats", "--cache", str(other))
    assert code == 0
    assert f"store    {other}" in out and "entries  0 (0 expired)" in out
    assert store.stats().entries == 3


def test_an_unusable_store_is_exit_3_with_the_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"not a database" * 100)
    code, out, err = _run(capsys, "cache", "clear", "--cache", str(broken))
    assert code == 3
    assert out == ""
    assert f"error: step cache {broken}: file is not a database" in err


def test_an_action_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["cache"])
    assert exc.value.code == 2
    assert "ACTION" in capsys.readouterr().err
