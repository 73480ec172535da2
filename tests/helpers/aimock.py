"""aimock (npm ``@copilotkit/aimock``): an independent OpenAI/Anthropic-compatible server,
as a Node process on a loopback port, scripted by a fixtures file.

It is found at ``$AIMOCK_CLI`` or in ``.ci/node`` (where ``.ci/run`` installs it);
without Node or that install the tests that need it are skipped, saying so.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

__all__ = ["AIMOCK_CLI", "aimock_server"]

ROOT = Path(__file__).resolve().parents[2]
AIMOCK_CLI = Path(
    os.environ.get("AIMOCK_CLI") or ROOT / ".ci/node/node_modules/@copilotkit/aimock/dist/cli.js"
)


@contextmanager
def aimock_server(fixtures: list[dict[str, Any]], workdir: Path) -> Iterator[str]:
    """Run aimock with ``fixtures`` (its ``{"match": ..., "response": ...}`` entries);
    yield its base URL. Skips the test when aimock is not installed."""
    if not AIMOCK_CLI.is_file():
        pytest.skip(f"aimock is not installed at {AIMOCK_CLI} (see .ci/run)")
    script = workdir / "aimock-fixtures.json"
    script.write_text(json.dumps({"fixtures": fixtures}))
    process = subprocess.Popen(
        ["node", str(AIMOCK_CLI), "--port", "0", "--host", "127.0.0.1", "-f", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:  # "[aimock] aimock server listening on http://..."
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                yield found.group(1).rstrip("/")
                break
        else:
            pytest.fail("aimock exited before listening")
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
