"""The external checkers the deployment tests run (promtool, hadolint, the compose-spec schema).

.ci/run installs every one of them and runs with CI=true, so there a missing checker
fails its test; on a developer's machine without it the test is skipped and says how
to install it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def required(what: str, found: T | None, install: str) -> T:
    """`found`, or skip (fail under CI) saying that `what` is missing and how to get it."""
    if found is not None:
        return found
    message = f"{what} is not installed: {install}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (.ci/run should have installed it)")
    pytest.skip(message)


def executable(name: str) -> str | None:
    """`name` on PATH or beside this Python (a venv's bin/, where pip puts console tools
    even when the venv is not activated, as in .ci/run)."""
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
