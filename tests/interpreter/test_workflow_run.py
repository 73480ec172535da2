"""DagWorkflow on a real Temporal dev server: runs, failures, limits, live state."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import pytest
import yaml
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from activities import ActivitySettings
from interpreter.contract import QUERY_PROGRESS, Progress
from tests.conftest import EXAMPLES
from tests.helpers.net import serve_http
from tests.helpers.runs import failure_of, run_to_end, start_run

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Probe:
    """A custom action activity that records concurrency, attempts and cancellation."""

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0
        self.calls: Counter[str] = Counter()
        self.cancelled: list[str] = []
        self.started = asyncio.Event()

    @activity.defn(name="probe")
    async def probe(self, params: dict[str, Any]) -> dict[str, Any]:
        key = str(params.get("key", "probe"))
        self.calls[key] += 1
        if self.calls[key] <= int(params.get("fail_times", 0)):
            raise ApplicationError(f"{key} is flaky", type="Flaky")
        if params.get("fail"):
            raise ApplicationError(f"{key} broke for good", type="Broken", non_retryable=True)
        self.active += 1
        self.peak = max(self.peak, self.active)
        self.started.set()
        try:
            loop = asyncio.get_running_loop()
            end = loop.time() + float(params.get("sleep", 0.1))
            while loop.time() < end:
                activity.heartbeat()
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            self.cancelled.append(key)
            raise
        finally:
            self.active -= 1
        return {"key": key, "attempt": activity.info().attempt}

    async def cancellation(self) -> None:
        """Until an activity saw its cancellation, which reaches it with the answer to its
        next heartbeat: the worker sends one every 5 s (the throttle), later on a busy
        machine. Returns after 30 s without one; the test's assertion then fails."""
        loop = asyncio.get_running_loop()
        end = loop.time() + 30
        while not self.cancelled and loop.time() < end:
            await asyncio.sleep(0.1)


def definition(text: str) -> dict[str, Any]:
    return yaml.safe_load(text)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "name",
    [
        "sentiment-analysis",
        "content-moderation",
        "rag-pipeline",
        "research-brief",
        "support-triage",
    ],
)
async def test_every_example_runs_offline_from_its_definition(
    client: Client, task_queue: str, worker_for: Any, name: str
) -> None:
    doc = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    inputs = json.loads((EXAMPLES / f"{name}.input.json").read_text())
    async with worker_for():
        result = await run_to_end(
            client, task_queue, {"definition": doc, "inputs": inputs, "offline": True}
        )
    assert result.workflow == doc["name"]
    assert set(result.outputs) == set(doc.get("outputs", {}))
    assert all(r.status in ("completed", "skipped") for r in result.steps.values())
    assert any(r.status == "completed" for r in result.steps.values())


async def test_catalog_name_is_resolved_by_an_activity_and_pinned_in_history(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    inputs = json.loads((EXAMPLES / "sentiment-analysis.input.json").read_text())
    async with worker_for():
        handle = await start_run(
            client,
            task_queue,
            {"workflow": "sentiment-analysis", "inputs": inputs, "offline": True},
        )
        result = await handle.result()
    assert result.outputs["sentiment"] == "positive"
    history = await handle.fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert scheduled[0] == "resolve_workflow"
    completed = next(
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    )
    pinned = json.loads(completed.activity_task_completed_event_attributes.result.payloads[0].data)
    assert pinned["definition"]["name"] == "sentiment-analysis"
    assert len(pinned["definition"]["steps"]) == 3


async def test_activity_summaries_read_like_the_yaml(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    doc = yaml.safe_load((EXAMPLES / "sentiment-analysis.yaml").read_text())
    async with worker_for():
        handle = await start_run(
            client, task_queue, {"definition": doc, "inputs": {"text": "great"}, "offline": True}
        )
        await handle.result()
    history = await handle.fetch_history()
    converter = client.data_converter.payload_converter
    summaries = [
        converter.from_payload(e.user_metadata.summary, str)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert summaries == [
        "extract_sentiment · llm openai/gpt-4o-mini",
        "generate_response · llm anthropic/claude-3-5-haiku-latest",
    ]  # `log_result` is a `log` action: computed in the workflow (test_log_action.py)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"inputs": {}}, "give exactly one of `workflow`"),
        ({"nothing": 1}, "unknown key `nothing`"),
        ("just a string", "invalid start input"),
        ({"workflow": "no-such-workflow"}, "no workflow named `no-such-workflow`"),
        (
            {"definition": {"name": "x", "steps": [{"id": "a", "type": "transform"}]}},
            "needs exactly one of `template` or `function`",
        ),
        (
            {
                "definition": {
                    "name": "cyc",
                    "steps": [
                        {"id": "a", "type": "transform", "template": "x", "depends_on": ["b"]},
                        {"id": "b", "type": "transform", "template": "x", "depends_on": ["a"]},
                    ],
                }
            },
            "dependency cycle: a → b → a",
        ),
        ({"workflow": "sentiment-analysis", "inputs": {}}, "missing required input `text`"),
        ({"workflow": "sentiment-analysis", "inputs": {"text": 3}}, "must be a string"),
        (
            {"workflow": "sentiment-analysis", "inputs": {"text": "a", "txt": "b"}},
            "unknown input `txt`",
        ),
    ],
)
async def test_invalid_start_input_fails_the_run_at_once(
    client: Client, task_queue: str, worker_for: Any, payload: Any, expected: str
) -> None:
    async with worker_for():
        message = await failure_of(client, task_queue, payload)
    assert expected in message


# each step sleeps 1 s: long enough that the three which may overlap do, however late a busy
# worker picks up the third
PARALLEL = """
name: fan-out
steps:
  - id: group
    type: parallel
    max_concurrency: 2
    steps:
      - {id: p1, type: action, action: probe, params: {key: p1, sleep: 1}}
      - {id: p2, type: action, action: probe, params: {key: p2, sleep: 1}}
      - {id: p3, type: action, action: probe, params: {key: p3, sleep: 1}}
      - {id: p4, type: action, action: probe, params: {key: p4, sleep: 1}}
      - {id: p5, type: action, action: probe, params: {key: p5, sleep: 1}}
  - id: solo
    type: action
    action: probe
    params: {key: solo, sleep: 1}
  - id: after
    type: transform
    depends_on: [group, solo]
    template: "{{ steps.group.output | length }}"
"""


async def test_parallel_groups_respect_max_concurrency_and_independent_steps_overlap(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    probe = Probe()
    async with worker_for(custom=[probe.probe]):
        result = await run_to_end(client, task_queue, {"definition": definition(PARALLEL)})
    # 2 inside the group at most, plus the independent `solo` step alongside them
    assert probe.peak == 3
    assert result.outputs == {}
    assert result.steps["after"].output == 5
    assert result.steps["group"].status == "completed"


FAILING = """
name: failing
steps:
  - id: slow
    type: action
    action: probe
    params: {key: slow, sleep: 30}
  - id: broken
    type: action
    action: probe
    params: {key: broken, fail: true, sleep: 0.3}
  - id: never
    type: transform
    depends_on: [broken]
    template: unreachable
"""


async def test_a_failing_step_fails_the_run_and_cancels_running_siblings(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    probe = Probe()
    async with worker_for(custom=[probe.probe]):
        handle = await start_run(client, task_queue, {"definition": definition(FAILING)})
        with pytest.raises(WorkflowFailureError) as info:
            await asyncio.wait_for(handle.result(), timeout=60)
        progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
        await probe.cancellation()
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert "step `broken` failed" in cause.message
    assert "broken broke for good" in cause.message
    assert probe.cancelled == ["slow"]
    assert progress.steps["broken"].status == "failed"
    assert progress.steps["slow"].status == "failed"
    assert progress.steps["never"].status == "pending"


CONTINUE = """
name: tolerant
steps:
  - id: shaky
    type: action
    action: probe
    continue_on_error: true
    params: {key: shaky, fail: true}
  - id: needs_shaky
    type: transform
    depends_on: [shaky]
    template: "ran"
  - id: cleanup
    type: transform
    depends_on: [shaky]
    trigger_rule: all_done
    template: "shaky was {{ steps.shaky.status }}"
outputs:
  cleanup: "{{ steps.cleanup.output }}"
"""


async def test_continue_on_error_lets_the_run_finish_and_skips_by_trigger_rule(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    probe = Probe()
    async with worker_for(custom=[probe.probe]):
        result = await run_to_end(client, task_queue, {"definition": definition(CONTINUE)})
    assert result.steps["shaky"].status == "failed"
    assert "broke for good" in (result.steps["shaky"].error or "")
    assert result.steps["needs_shaky"].status == "skipped"
    assert result.outputs == {"cleanup": "shaky was failed"}


class _Flaky(BaseHTTPRequestHandler):
    """Answers 500 to the first two POSTs of each path, then 200; /down always 503."""

    seen: ClassVar[Counter[str]] = Counter()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen[self.path] += 1
        if self.path == "/down" or self.seen[self.path] <= 2:
            self.send_response(503 if self.path == "/down" else 500)
            body = b'{"error": "try later"}'
        else:
            self.send_response(200)
            body = b'{"ok": true}'
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def flaky_server() -> Iterator[str]:
    _Flaky.seen.clear()
    with serve_http(_Flaky) as url:
        yield url


async def test_retry_policy_maps_to_temporal_and_attempts_are_reported(
    client: Client, task_queue: str, worker_for: Any, flaky_server: str
) -> None:
    doc = definition(
        f"""
name: retrying
steps:
  - id: flaky
    type: action
    action: http
    params: {{url: "{flaky_server}/flaky", body: {{n: 1}}}}
    retry: {{max_attempts: 3, initial_interval: 100ms, backoff_coefficient: 1.0}}
  - id: hopeless
    type: action
    action: http
    depends_on: [flaky]
    params: {{url: "{flaky_server}/down"}}
    retry: {{max_attempts: 2, initial_interval: 100ms}}
"""
    )
    allow = frozenset({flaky_server.removeprefix("http://")})  # 127.0.0.1:PORT
    settings = ActivitySettings(catalog_dir=EXAMPLES, http_allowed_hosts=allow)
    async with worker_for(settings=settings):
        handle = await start_run(client, task_queue, {"definition": doc})
        with pytest.raises(WorkflowFailureError) as info:
            await asyncio.wait_for(handle.result(), timeout=60)
        progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
    assert _Flaky.seen["/flaky"] == 3
    assert progress.steps["flaky"].status == "completed"
    assert progress.steps["flaky"].attempts == 3
    assert progress.steps["flaky"].output == {"status": 200, "body": {"ok": True}}
    assert _Flaky.seen["/down"] == 2
    assert progress.steps["hopeless"].attempts == 2
    assert isinstance(info.value.cause, ApplicationError)
    assert "step `hopeless` failed" in info.value.cause.message
    assert "answered 503" in info.value.cause.message


TIMEOUTS = """
name: timeouts
timeout: 5s
steps:
  - id: forever
    type: action
    action: probe
    params: {key: forever, sleep: 60}
"""


async def test_whole_run_timeout_fails_the_run_and_cancels_the_step(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    probe = Probe()
    async with worker_for(custom=[probe.probe]):
        message = await failure_of(client, task_queue, {"definition": definition(TIMEOUTS)})
        await probe.cancellation()
    assert "timed out after 5s" in message
    assert probe.cancelled == ["forever"]


STEP_TIMEOUT = """
name: step-timeout
steps:
  - id: stuck
    type: action
    action: probe
    timeout: 2s
    retry: {max_attempts: 2, initial_interval: 100ms}
    params: {key: stuck, sleep: 30}
"""


async def test_step_timeout_is_start_to_close_and_retried(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    probe = Probe()
    async with worker_for(custom=[probe.probe]):
        message = await failure_of(client, task_queue, {"definition": definition(STEP_TIMEOUT)})
    assert "step `stuck` failed" in message
    assert "timed out" in message.lower()
    assert probe.calls["stuck"] == 2


BLOCKING = """
name: blocking
steps:
  - id: first
    type: transform
    template: done
  - id: wait
    type: action
    depends_on: [first]
    action: probe
    params: {key: wait, sleep: 30}
  - id: last
    type: transform
    depends_on: [wait]
    template: never
"""


async def test_progress_query_and_cancellation_of_a_run(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    probe = Probe()
    async with worker_for(custom=[probe.probe]):
        handle = await start_run(client, task_queue, {"definition": definition(BLOCKING)})
        await asyncio.wait_for(probe.started.wait(), timeout=60)
        progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
        assert progress.status == "running"
        assert progress.steps["first"].status == "completed"
        assert progress.steps["first"].attempts == 1
        assert progress.steps["first"].duration_ms is not None
        assert progress.steps["wait"].status == "running"
        assert progress.steps["wait"].started_at is not None
        assert progress.steps["last"].status == "pending"
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), timeout=60)
        await probe.cancellation()
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert probe.cancelled == ["wait"]


async def test_http_action_refuses_hosts_that_are_not_allowed(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    doc = definition(
        """
name: webhook
steps:
  - id: post
    type: action
    action: http
    params: {url: "http://127.0.0.1:9/hook", body: {a: 1}}
"""
    )
    async with worker_for(settings=ActivitySettings(catalog_dir=EXAMPLES)):
        message = await failure_of(client, task_queue, {"definition": doc})
    assert "`127.0.0.1:9` is not allowed" in message
    assert "LLM_ORCHESTRATOR_HTTP_ALLOW" in message


async def test_original_format_file_runs_without_hanging_on_skipped_steps(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    from tests.conftest import ROOT

    doc = yaml.safe_load((ROOT / "tests/fixtures/original/content-moderation.yaml").read_text())
    async with worker_for():
        result = await run_to_end(
            client,
            task_queue,
            {"definition": doc, "inputs": {"content": "hello"}, "offline": True},
        )
    statuses = {k: v.status for k, v in result.steps.items()}
    # the offline model does not answer safe/review/block, so every routed step is skipped,
    # and the step behind a skipped one is skipped too (the original engine hung here)
    assert statuses == {
        "moderate_content": "completed",
        "route_safe": "skipped",
        "route_review": "skipped",
        "generate_block_explanation": "skipped",
        "notify_user_blocked": "skipped",
    }
