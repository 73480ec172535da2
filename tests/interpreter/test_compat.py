"""Original (Rust) format → canonical model: each rewrite, as a user would write it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from interpreter.compat import normalize
from interpreter.errors import WorkflowDefinitionError
from interpreter.loader import load_text
from interpreter.models import ActionStep, LlmStep, ParallelStep, TransformStep
from interpreter.source import parse

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


def _one_step(body: str, **top: object):
    head = "".join(f"{k}: {v}\n" for k, v in top.items())
    definition = load_text(f"name: t\n{head}steps:\n" + body)
    return definition, definition.steps[0]


def test_timeout_seconds_becomes_timeout() -> None:
    definition, step = _one_step(
        "  - id: a\n    type: action\n    action: log\n    timeout_seconds: 30\n",
        timeout_seconds=600,
    )
    assert step.timeout == 30.0
    assert definition.timeout == 600.0


def test_condition_becomes_when_but_a_branch_keeps_its_condition() -> None:
    definition = load_text("""\
name: t
steps:
  - id: a
    type: action
    action: log
    condition: "{{ inputs.go }} == 'yes'"
  - id: b
    type: branch
    condition: inputs.mode
    branches:
      x: [a]
""")
    assert definition.steps[0].when == "{{ inputs.go }} == 'yes'"
    assert definition.steps[1].condition == "inputs.mode"


def test_parallel_tasks_become_steps() -> None:
    _, step = _one_step("""\
  - id: group
    type: parallel
    max_concurrency: 2
    tasks:
      - id: one
        type: action
        action: log
        timeout_seconds: 5
""")
    assert isinstance(step, ParallelStep)
    assert [s.id for s in step.steps] == ["one"]
    assert step.steps[0].timeout == 5.0
    assert step.max_concurrency == 2


@pytest.mark.parametrize(
    ("backoff", "coefficient"), [("exponential", 2.0), ("linear", 1.0), ("constant", 1.0)]
)
def test_original_retry_block(backoff: str, coefficient: float) -> None:
    _, step = _one_step(
        "  - id: a\n    type: action\n    action: log\n"
        "    retry: {max_attempts: 3, initial_delay_ms: 500, max_delay_ms: 10000, "
        f"backoff: {backoff}}}\n"
    )
    assert step.retry is not None
    # the original counted retries after the first try: 3 retries = 4 attempts
    assert step.retry.max_attempts == 4
    assert step.retry.initial_interval == 0.5
    assert step.retry.max_interval == 10.0
    assert step.retry.backoff_coefficient == coefficient


def test_original_retry_with_zero_retries_tries_once() -> None:
    _, step = _one_step(
        "  - id: a\n    type: action\n    action: log\n"
        "    retry: {max_attempts: 0, backoff: constant}\n"
    )
    assert step.retry is not None and step.retry.max_attempts == 1


def test_readme_retry_keys_mean_what_the_readme_says() -> None:
    _, step = _one_step("""\
  - id: a
    type: action
    action: log
    retry:
      max_attempts: 3
      strategy: exponential
      initial_delay: 1000
      max_delay: 30000
      backoff_multiplier: 3
      jitter: true
""")
    retry = step.retry
    assert retry is not None
    assert (retry.max_attempts, retry.initial_interval, retry.max_interval) == (4, 1.0, 30.0)
    assert retry.backoff_coefficient == 3.0
    assert retry.jitter is True


def test_canonical_retry_block_is_left_alone() -> None:
    _, step = _one_step(
        "  - id: a\n    type: action\n    action: log\n"
        "    retry: {max_attempts: 3, initial_interval: 2s, backoff_coefficient: 1.5}\n"
    )
    assert step.retry is not None
    assert (step.retry.max_attempts, step.retry.initial_interval) == (3, 2.0)
    assert step.retry.backoff_coefficient == 1.5


def test_unknown_backoff_name_is_reported_on_the_retry() -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        load_text(
            "name: t\nsteps:\n  - id: a\n    type: action\n    action: log\n"
            "    retry: {backoff: exponentail}\n"
        )
    problem = caught.value.problems[0]
    assert (problem.line, problem.column) == (6, 12)
    assert "step `a`, field `retry`" in problem.message
    assert "'exponentail'" in problem.message


def test_llm_free_keys_become_extra_params() -> None:
    _, step = _one_step("""\
  - id: a
    type: llm
    provider: openai
    model: gpt-4
    prompt: hi
    top_p: 0.9
    frequency_penalty: 0.5
    presence_penalty: 0.1
""")
    assert isinstance(step, LlmStep)
    assert step.top_p == 0.9
    assert step.extra == {"frequency_penalty": 0.5, "presence_penalty": 0.1}


def test_action_free_keys_become_params() -> None:
    _, step = _one_step(
        "  - id: a\n    type: action\n    action: queue_review\n"
        '    content: "{{ input.content }}"\n    priority: medium\n'
    )
    assert isinstance(step, ActionStep)
    assert step.params == {"content": "{{ input.content }}", "priority": "medium"}


def test_transform_free_keys_and_bare_name_inputs() -> None:
    definition = load_text("""\
name: t
steps:
  - id: merge_inputs
    type: transform
    function: merge
    inputs: [text1, text2]
    output: [merged]
  - id: filter_data
    type: transform
    depends_on: [merge_inputs]
    function: filter
    inputs: [merged, "{{ inputs.extra }}", "not a name"]
    key: status
    value: active
""")
    first, second = definition.steps
    assert isinstance(first, TransformStep) and isinstance(second, TransformStep)
    # a bare name is an input, or an earlier step's output name when one is called that
    assert first.inputs == ["{{ inputs.text1 }}", "{{ inputs.text2 }}"]
    assert second.inputs == ["{{ outputs.merged }}", "{{ inputs.extra }}", "not a name"]
    assert second.params == {"key": "status", "value": "active"}


def test_transform_bare_step_id_reads_that_steps_output() -> None:
    definition = load_text("""\
name: t
steps:
  - id: fetch
    type: action
    action: log
  - id: shape
    type: transform
    depends_on: [fetch]
    function: identity
    inputs: [fetch]
""")
    assert definition.steps[1].inputs == ["{{ outputs.fetch }}"]


@pytest.mark.parametrize(
    ("typo", "hint"),
    [("dependson", "depends_on"), ("condtion", "condition"), ("ouput", "output")],
)
@pytest.mark.parametrize("kind", ["llm", "action", "transform"])
def test_misspelt_step_fields_are_not_swallowed_as_params(typo: str, hint: str, kind: str) -> None:
    body = {
        "llm": "    prompt: hi\n",
        "action": "    action: log\n",
        "transform": "    template: x\n",
    }[kind]
    text = f"name: t\nsteps:\n  - id: a\n    type: {kind}\n{body}    {typo}: [b]\n"
    with pytest.raises(WorkflowDefinitionError) as caught:
        load_text(text)
    problem = caught.value.problems[0]
    assert (problem.line, problem.column) == (6, 5)
    assert f"unknown field `{typo}`" in problem.message
    assert problem.hint == f"did you mean `{hint}`?"


def test_uuid_id_is_kept_as_metadata() -> None:
    definition, _ = _one_step(
        "  - id: a\n    type: action\n    action: log\n",
        id="550e8400-e29b-41d4-a716-446655440000",
    )
    assert definition.metadata["id"] == "550e8400-e29b-41d4-a716-446655440000"


def test_errors_point_at_the_original_spelling() -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        load_text(
            "name: t\nsteps:\n  - id: a\n    type: action\n    action: log\n"
            "    timeout_seconds: -5\n"
        )
    problem = caught.value.problems[0]
    assert (problem.line, problem.column) == (6, 22)
    assert "must be greater than zero" in problem.message


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_canonical_files_pass_through_unchanged(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert normalize(parse(text)) == yaml.safe_load(text)
