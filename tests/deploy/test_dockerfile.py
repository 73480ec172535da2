"""The worker image's Dockerfile, read instruction by instruction (no Docker engine here)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def command(args: str) -> list[str]:
    return list(json.loads(args)) if args.startswith("[") else shlex.split(args)


def only(keyword: str) -> list[str]:
    return [args for k, args in instructions() if k == keyword]


def test_base_image_is_python_311_slim() -> None:
    assert instructions()[0][0] == "FROM"
    (base,) = only("FROM")
    assert base.split()[0] in ("python:3.11-slim", "python:3.11-slim-bookworm")


def test_runs_as_a_non_root_user() -> None:
    users = only("USER")
    assert users, "no USER: the worker would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    # the user is created before it is switched to
    steps = [args for k, args in instructions() if k in ("RUN", "USER")]
    assert any(users[-1] in step for step in steps[: steps.index(users[-1])])


def test_installs_the_package_with_trace_export_and_starts_the_worker() -> None:
    assert any("pip install" in run and ".[otel]" in run for run in only("RUN"))
    (entrypoint,) = only("ENTRYPOINT")
    (cmd,) = only("CMD")
    assert command(entrypoint) + command(cmd)[:1] == ["llm-orchestrator", "worker"]


def test_copied_sources_exist_and_the_metrics_port_matches_compose() -> None:
    for args in only("COPY"):
        *sources, _ = command(args)
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
    assert only("EXPOSE") == ["9464"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "9464" in [str(p) for p in compose["services"]["worker"]["expose"]]


def test_the_build_context_leaves_out_secrets_and_local_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {".env", ".git", ".venv"} <= set(ignored)
