"""Run state on a real dev server: branch forms, skipped outputs, records derived from one owner."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from temporalio.client import Client, WorkflowFailureError

from tests.helpers.runs import run_to_end, start_run

pytestmark = pytest.mark.asyncio(loop_scope="session")

FILE = """\
name: branch-forms
inputs:
  kind: {type: string}
steps:
  - id: route
    type: branch
    condition: inputs.kind
    branches:
      a:
        - id: shared
          type: transform
          template: "shared ran"
          output: [note]
      b: [shared]
      c:
        - id: only_c
          type: transform
          template: "c ran"
          output: [note]
    default: [shared]
outputs:
  shared: "{{ steps.shared.note }}"
  only_c: "{{ steps.only_c.note }}"
"""


@pytest.mark.parametrize(
    ("kind", "shared", "only_c"),
    [("a", "shared ran", None), ("b", "shared ran", None), ("zzz", "shared ran", None),
     ("c", None, "c ran")],
)  # fmt: skip
async def test_branch_forms_run_the_right_steps_and_skipped_outputs_read_as_null(
    client: Client, task_queue: str, worker_for: Any, kind: str, shared: str, only_c: str
) -> None:
    async with worker_for():
        result = await run_to_end(
            client,
            task_queue,
            {"definition": yaml.safe_load(FILE), "inputs": {"kind": kind}, "offline": True},
        )
    assert result.outputs == {"shared": shared, "only_c": only_c}
    skipped = {s for s, r in result.steps.items() if r.status == "skipped"}
    assert skipped == ({"shared"} if kind == "c" else {"only_c"})
    for record in result.steps.values():
        if record.status == "completed":
            assert record.started_at and record.ended_at
            assert record.duration_ms is not None and record.duration_ms >= 0
        else:
            assert record.reason and record.reason.startswith("branch `route` chose")


async def test_a_name_no_step_declares_is_still_an_error(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    doc = yaml.safe_load(FILE)
    doc["outputs"] = {"x": "{{ steps.only_c.nope }}"}
    async with worker_for():
        handle = await start_run(
            client, task_queue, {"definition": doc, "inputs": {"kind": "a"}, "offline": True}
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    assert "nope" in str(caught.value.cause)


async def test_mocks_choose_a_branch_and_stand_in_for_a_step(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    doc = yaml.safe_load(FILE)
    async with worker_for():
        forced = await run_to_end(
            client,
            task_queue,
            {"definition": doc, "inputs": {"kind": "a"}, "offline": True, "mocks": {"route": "c"}},
        )
        mocked = await run_to_end(
            client,
            task_queue,
            {"definition": doc, "inputs": {"kind": "a"}, "mocks": {"shared": "from the mock"}},
        )
    assert forced.outputs == {"shared": None, "only_c": "c ran"}
    assert mocked.outputs == {"shared": "from the mock", "only_c": None}  # bound like a result
    assert mocked.steps["shared"].output == "from the mock"
    assert mocked.steps["shared"].status == "completed"
    assert mocked.steps["shared"].attempts == 0
    assert mocked.steps["shared"].reason == "mocked by the start input"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"inputs": {"kind": "a"}, "ofline": True},
            "unknown key `ofline`; did you mean `offline`?",
        ),
        ({"inputs": {"kind": "a"}, "input": {}}, "unknown key `input`; did you mean `inputs`?"),
        ({"inputs": {"kind": "a"}, "mocks": {"shard": 1}}, "unknown step `shard`; did you mean"),
    ],
)
async def test_bad_start_inputs_fail_at_once_with_a_hint(
    client: Client, task_queue: str, worker_for: Any, payload: dict[str, Any], message: str
) -> None:
    async with worker_for():
        handle = await start_run(
            client, task_queue, {"definition": yaml.safe_load(FILE), **payload}
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    assert message in str(caught.value.cause)
