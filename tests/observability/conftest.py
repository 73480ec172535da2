"""Helpers for observability tests: free ports, Prometheus text parsing, CLI workers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "llm_orchestrator.cli"]

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Samples = list[tuple[str, dict[str, str], float]]


def scrape(url: str) -> Samples:
    """Every sample of a Prometheus text exposition as (name, labels, value)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    samples: Samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and not line.startswith("#"):
            labels = dict(_LABEL.findall(match.group(2) or ""))
            samples.append((match.group(1), labels, float(match.group(3))))
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    found = [v for n, ls, v in samples if n == name and labels.items() <= ls.items()]
    assert found, f"no sample {name}{labels}"
    return sum(found)


def wait_for(url: str, timeout: float = 120.0) -> None:
    """Until ``url`` answers: a process starting up (a CLI worker imports for 20 s on a busy
    machine); returns as soon as it does."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test's environment without Temporal or OTEL settings, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEMPORAL_", "OTEL_", "LLM_ORCHESTRATOR_"))
    }
    env["TEMPORAL_CONFIG_FILE"] = str(tmp_path / "no-temporal-config.toml")
    env.update(extra)
    return env


@contextmanager
def cli_worker(
    args: Sequence[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`llm-orchestrator worker ARGS` as a process; stderr to ``log``; SIGTERM at the end."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*CLI, "worker", *args], cwd=ROOT, env=env, stdout=sink, stderr=sink
        )
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
