"""`mcp` steps are checked for their shape before a run; server names are the worker's."""

from __future__ import annotations

import pytest

from interpreter.loader import load_text
from interpreter.steps import describe_step
from interpreter.steps.mcp import McpStep
from tests.helpers.problems import load_problems

HEAD = "name: w\ninputs:\n  zone: {type: string}\nsteps:\n"


def _problems(text: str) -> list[str]:
    return load_problems(HEAD + text)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (
            "  - {id: t, type: mcp, tool: now}\n",
            "w.yaml:5:5: step `t`: missing required field `server`",
        ),
        ("  - {id: t, type: mcp, server: clock}\n", "missing required field `tool`"),
        ("  - {id: t, type: mcp, server: '', tool: now}\n", "field `server`"),
        ("  - {id: t, type: mcp, server: clock, tool: now, arguments: [1]}\n", "field `arguments`"),
        ("  - {id: t, type: mcp, server: clock, tool: now, url: 'http://x'}\n", "`url`"),
        (
            "  - {id: t, type: mcp, server: clock, tool: now,"
            " arguments: {tz: '{{ steps.nope.output }}'}}\n",
            "unknown step `nope`",
        ),
    ],
)
def test_bad_mcp_steps_are_located_errors(step: str, expected: str) -> None:
    assert any(expected in problem for problem in _problems(step)), _problems(step)


def test_any_server_name_validates_and_arguments_are_templates() -> None:
    definition = load_text(
        HEAD + "  - id: t\n    type: mcp\n    server: billing\n    tool: get_invoice\n"
        "    arguments: {zone: '{{ inputs.zone }}', n: 3}\n",
        "w.yaml",
    )
    step = definition.steps[0]
    assert isinstance(step, McpStep)
    assert step.arguments == {"zone": "{{ inputs.zone }}", "n": 3}
    assert describe_step(step) == "mcp billing/get_invoice"
