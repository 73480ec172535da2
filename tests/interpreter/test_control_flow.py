"""map, loop, approval, wait and workflow steps on the real dev server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError

from activities import ActivitySettings
from interpreter.contract import QUERY_PROGRESS, UPDATE_APPROVE, Decision, Progress, RunResult
from tests.helpers.runs import run_to_end, start_run

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _doc(text: str) -> dict[str, Any]:
    return yaml.safe_load(text)  # type: ignore[no-any-return]


MAP_STEP = """\
name: map-step
inputs:
  articles: {type: array}
steps:
  - id: prefix
    type: transform
    template: "#"
  - id: shout
    type: map
    depends_on: [prefix]
    items: "{{ inputs.articles }}"
    as: article
    max_concurrency: 4
    step:
      type: transform
      template: "{{ steps.prefix.output }}{{ index }} {{ article.text | upper }}"
outputs:
  all: "{{ steps.shout.output }}"
"""


async def test_map_runs_one_step_per_item_in_input_order_across_batches(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    articles = [{"text": f"a{i}"} for i in range(120)]  # three batches of 50
    async with worker_for():
        handle = await start_run(
            client, task_queue, {"definition": _doc(MAP_STEP), "inputs": {"articles": articles}}
        )
        result: RunResult = await asyncio.wait_for(handle.result(), 120)
        children = [
            e
            async for e in handle.fetch_history_events()
            if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
        ]
    assert result.outputs["all"] == [f"#{i} A{i}" for i in range(120)]
    assert len(children) == 3  # one child per batch, not one event group per item


async def test_map_with_a_sub_dag_per_item(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    text = """\
name: map-steps
steps:
  - id: each
    type: map
    items: [1, 2, 3]
    steps:
      - {id: double, type: transform, template: "{{ item * 2 }}"}
      - {id: label, type: transform, depends_on: [double], template: "n={{ steps.double.output }}"}
"""
    async with worker_for():
        result = await run_to_end(client, task_queue, {"definition": _doc(text)})
    assert result.steps["each"].output == [
        {"double": 2, "label": "n=2"},
        {"double": 4, "label": "n=4"},
        {"double": 6, "label": "n=6"},
    ]


FAILING_MAP = """\
name: map-failures
steps:
  - id: parse
    type: map
    items: ['{"a": 1}', "not json", '{"a": 3}']
    on_item_failure: MODE
    step: {type: transform, function: json_parse, inputs: "{{ item }}", retry: {max_attempts: 1}}
"""


async def test_map_continue_keeps_going_and_lists_the_errors(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    async with worker_for():
        result = await run_to_end(
            client, task_queue, {"definition": _doc(FAILING_MAP.replace("MODE", "continue"))}
        )
    record = result.steps["parse"]
    assert record.status == "completed"
    assert record.output == [{"a": 1}, None, {"a": 3}]
    assert [e["index"] for e in record.errors] == [1]
    assert "json" in record.errors[0]["error"].lower()


async def test_map_fail_fails_the_step_naming_the_item(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    async with worker_for():
        handle = await start_run(
            client, task_queue, {"definition": _doc(FAILING_MAP.replace("MODE", "fail"))}
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await asyncio.wait_for(handle.result(), 60)
    assert "item 1 failed" in str(caught.value.cause)


@pytest.mark.parametrize(
    ("items", "expected"), [("[]", []), ("'{{ inputs }}'", "it rendered to an object")]
)
async def test_map_of_nothing_and_of_a_non_list(
    client: Client, task_queue: str, worker_for: Any, items: str, expected: Any
) -> None:
    text = f"name: m\nsteps:\n  - id: m\n    type: map\n    items: {items}\n"
    text += "    step: {type: transform, template: x}\n"
    async with worker_for():
        handle = await start_run(client, task_queue, {"definition": _doc(text)})
        if isinstance(expected, list):
            result: RunResult = await asyncio.wait_for(handle.result(), 60)
            assert result.steps["m"].output == expected
        else:
            with pytest.raises(WorkflowFailureError) as caught:
                await asyncio.wait_for(handle.result(), 60)
            assert expected in str(caught.value.cause)


LOOP = """\
name: refine
steps:
  - id: refine
    type: loop
    max_iterations: {max}
    until: "steps.count.output >= 2"
    on_exhausted: {exhausted}
    steps:
      - id: count
        type: transform
        template: "{{{{ loop.index }}}}"
      - id: trail
        type: transform
        depends_on: [count]
        template: "{{{{ (loop.previous.trail ~ ',') if loop.previous else '' }}}}\\
          {{{{ steps.count.output }}}}"
"""


async def test_loop_runs_until_its_condition_holds(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    async with worker_for():
        result = await run_to_end(
            client, task_queue, {"definition": _doc(LOOP.format(max=5, exhausted="fail"))}
        )
    assert result.steps["refine"].output == {
        "iterations": 3,
        "last": {"count": 2, "trail": "0,1,2"},
    }


async def test_loop_exhausted_continues_or_fails(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    async with worker_for():
        result = await run_to_end(
            client, task_queue, {"definition": _doc(LOOP.format(max=2, exhausted="continue"))}
        )
        handle = await start_run(
            client, task_queue, {"definition": _doc(LOOP.format(max=2, exhausted="fail"))}
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await asyncio.wait_for(handle.result(), 60)
    assert result.steps["refine"].output == {"iterations": 2, "last": {"count": 1, "trail": "0,1"}}
    assert "did not hold after 2 iterations" in str(caught.value.cause)


APPROVAL = """\
name: review
inputs:
  content: {type: string}
steps:
  - id: human_review
    type: approval
    message: "Publish? {{ inputs.content }}"
    timeout: 30s
    on_timeout: reject
  - id: after
    type: transform
    depends_on: [human_review]
    template: "{{ steps.human_review.output.approved }}"
"""


async def _waiting(handle: Any) -> Progress:
    for _ in range(100):
        progress: Progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
        if progress.waiting:
            return progress
        await asyncio.sleep(0.1)
    raise AssertionError("the run never waited")


async def test_approval_by_update_with_its_checks(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    held = _doc(APPROVAL)  # the run stays open after the decision, for the second attempt
    held["steps"].append(
        {"id": "hold", "type": "wait", "signal": "release", "depends_on": ["human_review"]}
    )
    async with worker_for():
        handle = await start_run(
            client, task_queue, {"definition": held, "inputs": {"content": "hi"}}
        )
        progress = await _waiting(handle)
        (waiting,) = progress.waiting
        assert (waiting.step, waiting.kind, waiting.message) == (
            "human_review", "approval", "Publish? hi"
        )  # fmt: skip
        with pytest.raises(WorkflowUpdateFailedError) as unknown:
            await handle.execute_update(UPDATE_APPROVE, Decision(step="nope", approved=True))
        answer = await handle.execute_update(
            UPDATE_APPROVE,
            Decision(step="human_review", approved=True, by="ana", comment="ok", data={"n": 1}),
            result_type=str,
        )
        with pytest.raises(WorkflowUpdateFailedError) as twice:
            await handle.execute_update(
                UPDATE_APPROVE, Decision(step="human_review", approved=False)
            )
        await handle.signal("release")
        result: RunResult = await asyncio.wait_for(handle.result(), 60)
    assert "`nope` is not waiting for an approval" in str(unknown.value.cause)
    assert answer == "step `human_review` approved"
    assert "already decided" in str(twice.value.cause)
    assert result.steps["human_review"].output == {
        "approved": True, "by": "ana", "comment": "ok", "data": {"n": 1}, "timed_out": False
    }  # fmt: skip
    assert result.steps["after"].output is True


async def test_approval_by_signal_and_by_timeout(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    short = APPROVAL.replace("timeout: 30s", "timeout: 1s")
    async with worker_for():
        by_signal = await start_run(
            client, task_queue, {"definition": _doc(APPROVAL), "inputs": {"content": "x"}}
        )
        await _waiting(by_signal)
        await by_signal.signal(UPDATE_APPROVE, Decision(step="human_review", approved=False))
        rejected: RunResult = await asyncio.wait_for(by_signal.result(), 60)
        timed_out = await run_to_end(
            client, task_queue, {"definition": _doc(short), "inputs": {"content": "x"}}
        )
    assert rejected.steps["human_review"].output["approved"] is False
    assert timed_out.steps["human_review"].output["timed_out"] is True
    assert timed_out.steps["human_review"].output["approved"] is False


WAITS = """\
name: waits
steps:
  - {id: nap, type: wait, duration: 1s}
  - {id: paid, type: wait, signal: payment_received, timeout: 30s}
  - {id: maybe, type: wait, signal: never_sent, timeout: 1s, on_timeout: continue}
"""


async def test_wait_on_a_timer_and_on_signals(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    async with worker_for():
        handle = await start_run(client, task_queue, {"definition": _doc(WAITS)})
        await handle.signal("payment_received", {"amount": 12})
        result: RunResult = await asyncio.wait_for(handle.result(), 60)
    assert result.steps["nap"].status == "completed"
    assert (result.steps["nap"].duration_ms or 0) >= 1000
    assert result.steps["paid"].output == {"amount": 12}
    assert result.steps["maybe"].status == "completed"
    assert result.steps["maybe"].output is None


async def test_a_sub_workflow_by_catalog_name_and_by_pinned_definition(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    text = """\
name: parent
steps:
  - id: by_name
    type: workflow
    workflow: sentiment-analysis
    inputs: {text: "I love it"}
  - id: by_path
    type: workflow
    workflow: child.yaml
    inputs: {n: 2}
"""
    child = {
        "name": "child",
        "inputs": {"n": {"type": "integer"}},
        "steps": [{"id": "sq", "type": "transform", "template": "{{ inputs.n * inputs.n }}"}],
        "outputs": {"square": "{{ steps.sq.output }}"},
    }
    async with worker_for():
        result = await run_to_end(
            client,
            task_queue,
            {"definition": _doc(text), "offline": True, "library": {"child.yaml": child}},
        )
    assert result.steps["by_name"].output["sentiment"] == "positive"
    assert result.steps["by_path"].output == {"square": 4}


async def test_a_catalog_workflow_pins_the_files_it_names(
    client: Client, task_queue: str, worker_for: Any, tmp_path: Path
) -> None:
    (tmp_path / "parent.yaml").write_text(
        "name: parent\nsteps:\n"
        "  - {id: sub, type: workflow, workflow: parts/child.yaml, inputs: {n: 3}}\n"
    )
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "child.yaml").write_text(
        "name: child\ninputs:\n  n: {type: integer}\n"
        "steps:\n  - {id: sq, type: transform, template: '{{ inputs.n * inputs.n }}'}\n"
        "outputs:\n  square: '{{ steps.sq.output }}'\n"
    )
    async with worker_for(settings=ActivitySettings(catalog_dir=tmp_path)):
        handle = await start_run(client, task_queue, {"workflow": "parent"})
        while (await handle.query(QUERY_PROGRESS, result_type=Progress)).status == "resolving":
            await asyncio.sleep(0.05)
        # an edit once the run has its definition never reaches it: the child was pinned
        (tmp_path / "parts" / "child.yaml").write_text("name: broken\n")
        result: RunResult = await asyncio.wait_for(handle.result(), 60)
    assert result.steps["sub"].output == {"square": 9}


async def test_the_moderation_examples_review_path_waits_for_a_person(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    doc = _doc(
        (Path(__file__).resolve().parents[2] / "examples/content-moderation.yaml").read_text()
    )
    payload = {
        "definition": doc,
        "inputs": {"content": "a borderline post", "author": "sam"},
        "offline": True,
        "mocks": {"classify": {"label": "review"}},
    }
    async with worker_for():
        handle = await start_run(client, task_queue, payload)
        progress = await _waiting(handle)
        assert progress.waiting[0].message == "Publish this content by sam? a borderline post"
        await handle.execute_update(
            UPDATE_APPROVE, Decision(step="human_review", approved=True, by="ana")
        )
        result: RunResult = await asyncio.wait_for(handle.result(), 60)
    assert result.outputs["decision"] == "review"
    assert result.steps["publish_reviewed"].status == "completed"
    assert result.steps["publish_reviewed"].output["reviewed_by"] == "ana"
