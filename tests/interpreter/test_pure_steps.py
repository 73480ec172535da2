"""`transform` steps are computed in the workflow: no activity round trip, same results.

A run's history must schedule no ``step_transform`` activity, its outputs and
failures must read as they did when the activity computed them, and the steps must
stay visible (progress query, ``status`` lines, the run's current details).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment

from activities.transform import run_transform
from interpreter.contract import ACTIVITY_TRANSFORM, QUERY_PROGRESS, Progress
from interpreter.errors import StepError
from interpreter.fields import Defaults
from interpreter.steps import RunFacts, StepFailure, TransformStep, transform
from interpreter.template_limits import Limits
from interpreter.transforms import apply_function
from llm_orchestrator.progress import step_line
from tests.helpers.replay import assert_replays
from tests.helpers.runs import failure_of, outcome, run_to_end, start_run

PIPELINE: dict[str, Any] = {
    "name": "pure-pipeline",
    "inputs": {"raw": {"type": "string"}},
    "steps": [
        {
            "id": "parse",
            "type": "transform",
            "function": "json_parse",
            "inputs": "{{ inputs.raw }}",
        },
        {
            "id": "names",
            "type": "transform",
            "function": "pick",
            "inputs": "{{ steps.parse.output.people }}",
            "params": {"fields": ["name"]},
            "depends_on": ["parse"],
        },
        {
            "id": "line",
            "type": "transform",
            "template": "{{ steps.names.output | map(attribute='name') | join(', ') }}",
            "depends_on": ["names"],
        },
        {
            "id": "never",
            "type": "transform",
            "function": "upper",
            "inputs": "x",
            "when": "{{ false }}",
            "depends_on": ["line"],
        },
        {
            "id": "each",
            "type": "map",
            "items": "{{ steps.parse.output.people }}",
            "as": "person",
            "step": {"type": "transform", "function": "upper", "inputs": "{{ person.name }}"},
            "depends_on": ["parse"],
        },
        {
            "id": "again",
            "type": "loop",
            "max_iterations": 5,
            "until": "steps.count.output >= 3",
            "steps": [{"id": "count", "type": "transform", "template": "{{ loop.index }}"}],
        },
    ],
    "outputs": {
        "line": "{{ steps.line.output }}",
        "shouted": "{{ steps.each.output }}",
        "never": "{{ steps.never.status }}",
        "loops": "{{ steps.again.output }}",
    },
}
RAW = '{"people": [{"name": "ada", "age": 36}, {"name": "alan", "age": 41}]}'


async def _scheduled_activities(history: WorkflowHistory) -> list[str]:
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


async def test_a_run_of_transforms_schedules_no_activity_and_gives_the_same_outputs(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    async with worker_for():
        handle = await start_run(
            client, task_queue, {"definition": PIPELINE, "inputs": {"raw": RAW}}
        )
        result, error = await outcome(handle)
        assert error is None and result is not None
        history = await handle.fetch_history()
        # the map's items and loop iterations are child runs: transforms run in them too
        children = [
            e.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
        ]
        child_histories = [await client.get_workflow_handle(c).fetch_history() for c in children]
    # the values the `step_transform` activity produced for this pipeline before
    assert result.outputs == {
        "line": "ada, alan",
        "shouted": ["ADA", "ALAN"],
        "never": "skipped",
        "loops": {"iterations": 4, "last": {"count": 3}},
    }
    assert result.steps["names"].output == [{"name": "ada"}, {"name": "alan"}]
    assert children, "the map ran no child runs"
    for recorded in (history, *child_histories):
        assert ACTIVITY_TRANSFORM not in await _scheduled_activities(recorded)
    markers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert len(markers) == 1  # the patch marker, once per run however many transforms
    for step_id in ("parse", "names", "line"):
        record = result.steps[step_id]
        assert (record.status, record.reason, record.attempts) == ("completed", "in workflow", 1)
        assert record.started_at is not None and record.duration_ms == 0
    assert result.steps["never"].status == "skipped"

    # a run recorded with transforms in the workflow replays
    await assert_replays(history)


@pytest.mark.parametrize(
    ("function", "inputs", "params"),
    [
        ("json_parse", '```json\n{"a": [1, 2]}\n```', {}),
        ("merge", [{"a": 1}, {"b": (2, 3)}], {}),
        ("concat", ["x", None, 3], {"separator": "-"}),
        ("join", [1, None, "z"], {"separator": "/"}),
        ("filter", [{"k": 1}, {"k": 2}], {"where": {"k": {"$gte": 2}}}),
        ("unique", [1, True, {"a": 1}, {"a": 1}, [1], [1], "1"], {}),
        ("sort", [3, 1, 2], {"reverse": True}),
        ("flatten", [[1, [2]], 3, None], {}),
        ("json_stringify", {"b": 1, "a": [1]}, {"indent": 2}),
        ("split", " a, b ,,c ", {"separator": ","}),
        ("extract_metadata", [{"metadata": {"x": 1, "y": 2}}], {"fields": ["x"]}),
    ],
)
async def test_computing_in_the_workflow_gives_what_the_activity_returns(
    function: str, inputs: Any, params: dict[str, Any]
) -> None:
    step = TransformStep(id="t", type="transform", function=function)
    rendered = {"template": None, "inputs": inputs, "params": params}
    computed = transform.KIND.compute(step, rendered)
    legacy = transform.KIND.replays_with
    assert legacy is not None
    call = legacy.call(step, rendered, RunFacts(Defaults(), False, "w", "r"))
    # what the workflow sent the activity went through the payload converter first
    payload = pydantic_data_converter.payload_converter.to_payloads([call.payload])
    request = pydantic_data_converter.payload_converter.from_payloads(
        payload, [type(call.payload)]
    )[0]
    returned = await ActivityEnvironment().run(run_transform, request)
    assert computed.output == returned.output


async def test_a_transform_error_fails_the_step_with_the_activitys_message_and_no_retry(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    definition = {
        "name": "bad-json",
        "steps": [
            {"id": "parse", "type": "transform", "function": "json_parse", "inputs": "nope"},
        ],
    }
    async with worker_for():
        error = await failure_of(client, task_queue, {"definition": definition})
    assert error == (
        "step `parse` failed: step `parse`: json_parse: not valid JSON at line 1 column 1: "
        "Expecting value [StepFailed]"
    )


async def test_continue_on_error_and_mocks_work_for_transforms(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    definition = {
        "name": "pure-failures",
        "steps": [
            {
                "id": "parse",
                "type": "transform",
                "function": "json_parse",
                "inputs": "{oops",
                "continue_on_error": True,
            },
            {
                "id": "after",
                "type": "transform",
                "template": "{{ steps.parse.status }}",
                "depends_on": ["parse"],
                "trigger_rule": "all_done",
            },
            {"id": "mocked", "type": "transform", "function": "upper", "inputs": "x"},
        ],
        "outputs": {"after": "{{ steps.after.output }}", "mocked": "{{ steps.mocked.output }}"},
    }
    async with worker_for():
        result = await run_to_end(
            client, task_queue, {"definition": definition, "mocks": {"mocked": "from the test"}}
        )
    parse = result.steps["parse"]
    assert parse.status == "failed" and parse.attempts == 1
    assert parse.error is not None and "json_parse: not valid JSON" in parse.error
    assert result.outputs == {"after": "failed", "mocked": "from the test"}
    assert result.steps["mocked"].reason == "mocked by the start input"


async def test_progress_status_and_details_show_the_computed_steps(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    definition = {
        "name": "pure-then-wait",
        "steps": [
            *({"id": f"t{i}", "type": "transform", "template": "x"} for i in range(21)),
            {"id": "shout", "type": "transform", "function": "upper", "inputs": "hi"},
            {
                "id": "bad",
                "type": "transform",
                "function": "json_parse",
                "inputs": "{",
                "continue_on_error": True,
            },
            {"id": "hold", "type": "wait", "signal": "go", "depends_on": ["shout"]},
        ],
    }
    async with worker_for():
        handle = await start_run(client, task_queue, {"definition": definition})
        for _ in range(100):
            progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
            if progress.waiting:
                break
            await asyncio.sleep(0.1)
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        details = metadata.current_details
        await handle.signal("go")
        await handle.result()
    shout = progress.steps["shout"]
    assert (shout.status, shout.output, shout.reason) == ("completed", "HI", "in workflow")
    assert "— in workflow" in step_line(shout)
    assert progress.steps["bad"].status == "failed"
    assert "**Computed in the workflow:** (3 earlier) … `t3` transform template ✓" in details
    assert "`shout` transform upper ✓" in details
    assert "`bad` transform json_parse ✗" in details


# --- bounds: a transform cannot stall the workflow thread -----------------------------

SMALL = Limits(transform_work=200_000, transform_output=100_000)
BOMBS: list[tuple[str, Any, dict[str, Any]]] = [
    ("join", ["a"] * 10_000, {"separator": "x" * 100_000}),
    ("merge", ["a"] * 10_000, {"separator": "x" * 100_000}),
    ("concat", ["a"] * 10_000, {"separator": "x" * 1_000}),
    ("unique", [{"i": i} for i in range(50_000)], {}),
    ("pick", [{}] * 10_000, {"fields": [f"f{i}" for i in range(10_000)]}),
    ("filter", [{}] * 10_000, {"where": {f"k{i}": i for i in range(10_000)}}),
    ("extract_metadata", [{"metadata": {}}] * 10_000, {"fields": list(range(10_000))}),
    ("split", "," * 1_000_000, {"separator": ","}),
    ("sort", list(range(100_000)), {}),
    ("flatten", [list(range(1_000))] * 1_000, {}),
    ("json_stringify", {"a": 1}, {"indent": 10**9}),
    ("json_parse", "[" * 100_000 + "]" * 100_000, {}),
    ("upper", "x" * 200_000, {}),
]


@pytest.mark.parametrize(("function", "inputs", "params"), BOMBS, ids=[b[0] for b in BOMBS])
def test_each_transform_bomb_fails_fast_with_a_reason(
    function: str, inputs: Any, params: dict[str, Any]
) -> None:
    # CPU time of this thread, not wall-clock: a busy machine stretches the second, not the work
    started = time.thread_time()
    with pytest.raises(StepError) as caught:
        apply_function(function, inputs, params, limits=SMALL)
    assert time.thread_time() - started < 0.5
    message = str(caught.value)
    assert any(
        reason in message
        for reason in ("too costly", "larger than", "nested too deeply", "at most 32")
    ), message


def test_ordinary_data_stays_well_inside_the_default_limits() -> None:
    rows = [{"id": i, "text": f"row {i}", "metadata": {"k": i % 7}} for i in range(20_000)]
    assert len(apply_function("pick", rows, {"fields": ["id", "text"]})) == 20_000
    assert len(apply_function("filter", rows, {"where": {"id": {"$lt": 100}}})) == 100
    assert len(apply_function("unique", [r["metadata"] for r in rows], {})) == 7
    assert apply_function("join", [r["text"] for r in rows[:3]], {"separator": "|"}) == (
        "row 0|row 1|row 2"
    )


def test_a_template_transform_whose_value_is_not_data_fails_its_step() -> None:
    step = TransformStep(id="t", type="transform", template="{{ range(3) }}")
    with pytest.raises(StepFailure, match="not JSON data"):
        transform.KIND.compute(step, {"template": range(3), "inputs": None, "params": {}})


async def test_a_transform_bomb_fails_its_run_fast(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    definition = {
        "name": "pure-bomb",
        "steps": [
            {
                "id": "blow",
                "type": "transform",
                "function": "join",
                "inputs": "{{ range(100000) | list }}",
                "params": {"separator": "{{ 'x' * 1000000 }}"},
            }
        ],
    }
    started = time.monotonic()
    async with worker_for():
        error = await failure_of(client, task_queue, {"definition": definition})
    assert time.monotonic() - started < 10
    assert "step `blow`: `join` is too costly: its output would be larger than" in error
    assert "LLM_ORCHESTRATOR_TEMPLATE_MAX_TRANSFORM_OUTPUT" in error
