"""The external checkers the deployment tests run (promtool, hadolint, the compose-spec schema).

.ci/run installs every one of them and runs with CI=true, so there a missing checker
fails its test; on a developer's machine without it the test is skipped and says how
to install it.
"""

from __future__ import annotations

import os
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
