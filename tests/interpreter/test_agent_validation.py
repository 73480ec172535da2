"""`agent` steps are checked before a run: located errors with hints for the tool list,
`max_turns`, workflow tools (they must exist and declare inputs) and the transcript."""

from __future__ import annotations

from pathlib import Path

import pytest

from interpreter.errors import WorkflowDefinitionError
from interpreter.library import load_with_library
from interpreter.loader import load_text
from interpreter.steps import AgentStep, describe_step
from interpreter.steps.agent import ActivityTool
from tests.helpers.problems import load_problems

HEAD = "name: w\ninputs:\n  q: {type: string}\nsteps:\n"
AGENT = "  - id: support\n    type: agent\n    prompt: '{{ inputs.q }}'\n"


def _problems(text: str) -> list[str]:
    return load_problems(HEAD + text)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (
            AGENT,
            "w.yaml:5:5: step `support`: `max_turns` is required (hint: bound the conversation",
        ),
        (
            AGENT + "    max_turns: 0\n",
            "w.yaml:8:16: step `support`: `max_turns` must be at least 1 (got 0) (hint:",
        ),
        (
            AGENT + "    max_turns: 2\n    tools:\n      - {tool: x}\n",
            "w.yaml:10:9: step `support`, field `tools`: a tool is exactly one of "
            "`workflow: NAME`, `mcp: SERVER` or `activity: NAME`",
        ),
        (
            AGENT + "    max_turns: 2\n    tools:\n      - {mcp: a, activity: b}\n",
            "a tool is exactly one of",
        ),
        (
            AGENT + "    max_turns: 2\n    tools:\n      - {activity: refund}\n"
            "      - {activity: other, name: refund}\n",
            "w.yaml:11:9: step `support`: two tools are named `refund` (tools 1 and 2) "
            "(hint: give one of them another `name:`)",
        ),
        (
            AGENT + "    max_turns: 2\n    tools:\n      - {activity: refund}\n"
            "      - {activity: billing.refund}\n      - {activity: billing.refund, name: ok}\n",
            "w.yaml:11:20: step `support`: tool 2: activity `billing.refund` cannot be a tool "
            "name (models accept letters, digits, `_` and `-`, at most 64) "
            "(hint: give it a `name:`, e.g. `name: billing_refund`)",
        ),
        (
            AGENT + "    max_turns: 2\n    tools:\n      - activity: " + "a" * 65 + "\n",
            "w.yaml:10:19: step `support`: tool 1: activity `"
            + "a" * 65
            + "` cannot be a tool name (models accept letters, digits, `_` and `-`, at most 64) "
            "(hint: give it a `name:`, e.g. `name: " + "a" * 64 + "`)",
        ),
        (
            AGENT + "    max_turns: 2\n    tools:\n      - {activity: a, parameters: {type: 7}}\n",
            "not a valid JSON Schema",
        ),
        (
            AGENT + "    max_turns: 2\n    tools:\n      - {activity: a, approval: maybe}\n",
            "w.yaml:10:20: step `support`, field `tools`: Input should be 'required' (got 'maybe')",
        ),
        (
            AGENT + "    max_turns: 2\n    cache: {key: '{{ inputs.q }}'}\n",
            "an agent's cache is keyed by each turn's conversation; one `key` cannot name "
            "every turn",
        ),
        (
            AGENT + "    max_turns: 2\n    mock_turns: [{}]\n",
            "a mock turn is `text: ...` (an answer) or `tool_calls: [...]`",
        ),
        (
            AGENT + "    max_turns: 2\n  - id: after\n    type: transform\n"
            "    template: '{{ steps.after.transcript }}{{ steps.support.transcripts }}'\n"
            "    depends_on: [support]\n",
            "template reads `steps.support.transcripts`, which step `support` does not produce "
            "(hint: did you mean",
        ),
    ],
)
def test_bad_agent_steps_are_located_errors(step: str, expected: str) -> None:
    problems = _problems(step)
    assert any(expected in problem for problem in problems), problems


def test_an_activity_named_as_models_cannot_call_is_offered_only_under_a_name() -> None:
    tools = AGENT + "    max_turns: 2\n    tools:\n      - {activity: billing.refund%s}\n"
    (problem,) = _problems(tools % "")  # the one problem: the name a model would be offered
    assert "w.yaml:10:20: step `support`: tool 1: activity `billing.refund`" in problem
    definition = load_text(HEAD + tools % ", name: billing_refund", "w.yaml")
    step = definition.steps[0]
    assert isinstance(step, AgentStep)
    assert isinstance(step.tools[0], ActivityTool) and step.tools[0].tool == "billing_refund"


def test_a_good_agent_step_and_its_transcript_validate() -> None:
    definition = load_text(
        HEAD + AGENT + "    max_turns: 3\n    tools:\n      - mcp: billing\n"
        "        allow: [get_invoice]\n      - workflow: lookup-order\n"
        "  - id: after\n    type: transform\n    depends_on: [support]\n"
        "    template: '{{ steps.support.transcript.turns | length }}'\n",
        "w.yaml",
    )
    step = definition.steps[0]
    assert isinstance(step, AgentStep)
    assert describe_step(step) == "agent default/default"
    # a transcript is an agent's: other steps have none
    problems = _problems(
        AGENT + "    max_turns: 2\n  - id: t\n    type: transform\n    template: x\n"
        "  - id: u\n    type: transform\n    depends_on: [t]\n"
        "    template: '{{ steps.t.transcript }}'\n"
    )
    assert any("`steps.t.transcript`, which step `t` does not produce" in p for p in problems)


def test_workflow_tools_must_exist_and_declare_inputs(tmp_path: Path) -> None:
    (tmp_path / "noinputs.yaml").write_text(
        "name: noinputs\nsteps:\n  - {id: s, type: transform, template: hi}\n"
    )
    (tmp_path / "lookup.yaml").write_text(
        "name: lookup\ninputs:\n  order: {type: string}\nsteps:\n"
        "  - {id: s, type: transform, template: '{{ inputs.order }}'}\n"
    )
    main = tmp_path / "main.yaml"
    main.write_text(
        HEAD + AGENT + "    max_turns: 3\n    tools:\n      - workflow: ./missing.yaml\n"
        "      - workflow: noinputs\n      - workflow: ./lookup.yaml\n"
    )
    with pytest.raises(WorkflowDefinitionError) as caught:
        load_with_library(main)
    problems = [p.format() for p in caught.value.problems]
    assert any(
        ":10:19: step `support` tool 1: no file `./missing.yaml` next to this one" in p
        for p in problems
    ), problems
    assert any(
        ":11:19: step `support` tool 2: workflow `noinputs` declares no `inputs:`" in p
        for p in problems
    ), problems
    assert len(problems) == 2  # the good tool is fine
    main.write_text(
        HEAD + AGENT + "    max_turns: 3\n    tools:\n      - workflow: ./lookup.yaml\n"
    )
    _, library = load_with_library(main)
    assert library["./lookup.yaml"]["name"] == "lookup"  # pinned with the run
