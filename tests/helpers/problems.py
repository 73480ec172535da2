"""What validation says about a workflow file: the one way tests read its problems."""

from __future__ import annotations

import pytest

from interpreter.errors import WorkflowDefinitionError
from interpreter.loader import load_text

__all__ = ["load_problems"]


def load_problems(text: str, name: str = "w.yaml") -> list[str]:
    """The located problems of the file ``text`` (named ``name``); fails if it loads."""
    with pytest.raises(WorkflowDefinitionError) as caught:
        load_text(text, name)
    return [p.format() for p in caught.value.problems]
