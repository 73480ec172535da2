"""Providers under real-world failure, through real runs on Temporal against loopback fakes."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from activities import WorkerConfig
from activities.providers.config import ProviderSettings, load_worker_config
from interpreter.contract import QUERY_PROGRESS, WORKFLOW_TYPE, Progress, RunResult
from tests.fakes.vendors import (
    Answer,
    FakeVendor,
    anthropic_message,
    anthropic_stream,
    openai_chat,
    openai_stream,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

OPENAI_KEY = "sk-test-" + "A1b2C3d4E5f6G7h8I9j0" * 2
ANTHROPIC_KEY = "sk-ant-test-" + "Z9y8X7w6V5u4T3s2R1q0" * 2
CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"


@pytest.fixture
def fake() -> Iterator[FakeVendor]:
    with FakeVendor.running() as vendor:
        yield vendor


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)


def config_for(fake: FakeVendor, **overrides: Any) -> WorkerConfig:
    config = load_worker_config(env={})
    providers = dict(config.providers)
    for name, kind in (("openai", "openai"), ("anthropic", "anthropic")):
        providers[name] = ProviderSettings(
            kind=kind,  # type: ignore[arg-type]
            base_url=f"{fake.url}/v1" if kind == "openai" else fake.url,
            api_key_env="OPENAI_API_KEY" if kind == "openai" else "ANTHROPIC_API_KEY",
            http2=False,
            **overrides,
        )
    return config.model_copy(update={"providers": providers})


def one_step(provider: str = "openai", **step: Any) -> dict[str, Any]:
    llm = {
        "id": "ask",
        "type": "llm",
        "provider": provider,
        "model": "gpt-4o-mini" if provider == "openai" else "claude-3-5-haiku-latest",
        "prompt": "Say something",
        "retry": {"max_attempts": 3, "initial_interval": "100ms", "jitter": False},
        **step,
    }
    return {"name": "one-step", "steps": [llm], "outputs": {"answer": "{{ steps.ask.output }}"}}


async def start(client: Client, task_queue: str, definition: dict[str, Any]) -> Any:
    return await client.start_workflow(
        WORKFLOW_TYPE,
        {"definition": definition},
        id=f"prov-{uuid.uuid4().hex[:10]}",
        task_queue=task_queue,
        result_type=RunResult,
    )


async def outcome(handle: Any) -> tuple[RunResult | None, str | None]:
    try:
        return await asyncio.wait_for(handle.result(), timeout=60), None
    except WorkflowFailureError as exc:
        cause = exc.cause
        assert isinstance(cause, ApplicationError)
        return None, cause.message


@pytest.mark.usefixtures("keys")
async def test_429_with_retry_after_waits_as_told_then_succeeds(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    fake.then(
        CHAT,
        Answer(
            status=429,
            headers={"Retry-After": "1"},
            body={"error": {"message": "Rate limit reached", "type": "requests"}},
        ),
    )
    async with worker_for(config=config_for(fake)):
        result, error = await outcome(await start(client, task_queue, one_step()))
    assert error is None and result is not None
    assert result.outputs == {"answer": "positive"}
    sent = fake.requests(CHAT)
    assert len(sent) == 2
    # the retry policy alone would have waited 100 ms; Retry-After said 1 s
    assert sent[1].at - sent[0].at >= 0.95
    assert result.steps["ask"].attempts == 2
    assert sent[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"


@pytest.mark.usefixtures("keys")
async def test_500_then_success(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    fake.then(CHAT, Answer(status=500, body={"error": {"message": "boom", "type": "server"}}))
    async with worker_for(config=config_for(fake)):
        result, error = await outcome(await start(client, task_queue, one_step()))
    assert error is None and result is not None
    assert len(fake.requests(CHAT)) == 2


@pytest.mark.usefixtures("keys")
async def test_anthropic_529_overloaded_is_retried(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    fake.then(
        MESSAGES,
        Answer(
            status=529,
            body={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        ),
    )
    async with worker_for(config=config_for(fake)):
        result, error = await outcome(await start(client, task_queue, one_step("anthropic")))
    assert error is None and result is not None
    sent = fake.requests(MESSAGES)
    assert len(sent) == 2
    assert sent[0].headers["x-api-key"] == ANTHROPIC_KEY
    assert sent[0].headers["anthropic-version"] == "2023-06-01"
    assert sent[0].body["max_tokens"] == 1024


@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize(
    ("provider", "answer", "kept"),
    [
        (
            "openai",
            Answer(
                status=401,
                body={
                    "error": {
                        "message": f"Incorrect API key provided: {OPENAI_KEY[:12]}****",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
            ),
            "Incorrect API key provided",
        ),
        (
            "openai",
            Answer(
                status=400,
                body={
                    "error": {
                        "message": "max_tokens is too large: 99999999.",
                        "type": "invalid_request_error",
                    }
                },
            ),
            "max_tokens is too large",
        ),
        (
            "anthropic",
            Answer(
                status=400,
                body={
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": "messages: empty"},
                },
            ),
            "messages: empty",
        ),
    ],
)
async def test_client_errors_are_not_retried_and_keep_the_vendor_message(
    client: Client,
    task_queue: str,
    worker_for: Any,
    fake: FakeVendor,
    provider: str,
    answer: Answer,
    kept: str,
) -> None:
    path = CHAT if provider == "openai" else MESSAGES
    fake.then(path, answer)
    async with worker_for(config=config_for(fake)):
        result, error = await outcome(await start(client, task_queue, one_step(provider)))
    assert result is None and error is not None
    assert len(fake.requests(path)) == 1
    assert "step `ask` failed" in error
    assert kept in error
    assert f"HTTP {answer.status}" in error
    assert OPENAI_KEY[:12] not in error


@pytest.mark.usefixtures("keys")
async def test_a_body_that_is_not_json_is_retried(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    fake.then(CHAT, Answer(raw=b"<html>502 Bad Gateway</html>"))
    async with worker_for(config=config_for(fake)):
        result, error = await outcome(await start(client, task_queue, one_step()))
    assert error is None and result is not None
    assert len(fake.requests(CHAT)) == 2


@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_stream_cut_half_way_is_retried_and_then_assembled(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor, provider: str
) -> None:
    pieces = ["The ", "answer ", "is ", "42."]
    if provider == "openai":
        path, full = CHAT, openai_stream(pieces)
    else:
        path, full = MESSAGES, anthropic_stream(pieces)
    fake.then(path, Answer(sse=full, cut_after=3), Answer(sse=full))
    async with worker_for(config=config_for(fake)):
        result, error = await outcome(
            await start(client, task_queue, one_step(provider, stream=True))
        )
    assert error is None and result is not None
    assert result.outputs == {"answer": "The answer is 42."}
    assert len(fake.requests(path)) == 2
    usage = result.steps["ask"].usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (
        (9, 4) if provider == "openai" else (15, 6)
    )


@pytest.mark.usefixtures("keys")
async def test_a_server_that_never_answers_hits_the_step_timeout(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    fake.then(CHAT, Answer(hang=5), Answer(hang=5))
    step = one_step(timeout="1500ms", retry={"max_attempts": 2, "initial_interval": "100ms"})
    async with worker_for(config=config_for(fake)):
        result, error = await outcome(await start(client, task_queue, step))
    assert result is None and error is not None
    assert len(fake.requests(CHAT)) == 2
    assert "no answer within" in error or "timed out" in error


@pytest.mark.usefixtures("keys")
async def test_breaker_opens_fails_fast_without_requests_then_closes(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    boom = Answer(status=503, body={"error": {"message": "unavailable"}})
    fake.then(CHAT, boom, boom)
    config = config_for(fake, breaker_failures=2, breaker_cooldown=2.0)
    step = one_step(retry={"max_attempts": 6, "initial_interval": "200ms", "jitter": False})
    async with worker_for(config=config) as activities:
        handle = await start(client, task_queue, step)
        result, error = await outcome(handle)
        endpoint = activities.providers.endpoints["openai"]
    assert error is None and result is not None
    sent = fake.requests(CHAT)
    # two failures open the breaker; the next attempt is refused locally and retried
    # when the cool-down ends, so the fake sees exactly one more request: the probe
    assert len(sent) == 3
    assert sent[2].at - sent[1].at >= 1.9
    assert endpoint.breaker.state == "closed"
    assert result.steps["ask"].attempts == 4


@pytest.mark.usefixtures("keys")
async def test_connection_refused_is_retryable_and_opens_the_breaker(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    with FakeVendor.running() as gone:
        url = gone.url
    config = load_worker_config(env={})
    providers = dict(config.providers)
    providers["openai"] = ProviderSettings(
        base_url=f"{url}/v1", api_key_env="OPENAI_API_KEY", breaker_failures=2,
        breaker_cooldown=30.0, http2=False,
    )  # fmt: skip
    step = one_step(retry={"max_attempts": 3, "initial_interval": "100ms", "jitter": False})
    async with worker_for(config=config.model_copy(update={"providers": providers})) as acts:
        handle = await start(client, task_queue, step)
        result, error = await outcome(handle)
        endpoint = acts.providers.endpoints["openai"]
    assert result is None and error is not None
    # attempts 1 and 2 hit the closed port; attempt 3 is refused by the open breaker
    assert endpoint.requests_sent == 2
    assert endpoint.breaker.state == "open"
    # the final error names the cause that opened the breaker, not just the breaker
    port = url.rsplit(":", 1)[1]
    assert f"connection refused to 127.0.0.1:{port} (circuit open since " in error
    history = (await handle.fetch_history()).to_json()
    assert f"connection refused to 127.0.0.1:{port}" in history


async def test_a_missing_key_fails_at_once_with_what_to_set(
    client: Client,
    task_queue: str,
    worker_for: Any,
    fake: FakeVendor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    # the vendor's hosted API needs a key; another base URL may not (test_provider_defects)
    async with worker_for(config=load_worker_config(env={})):
        result, error = await outcome(await start(client, task_queue, one_step()))
    assert result is None and error is not None
    assert "set OPENAI_API_KEY on the worker" in error
    assert fake.requests() == []


@pytest.mark.usefixtures("keys")
async def test_keys_never_reach_history_results_errors_or_logs(
    client: Client,
    task_queue: str,
    worker_for: Any,
    fake: FakeVendor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.then(
        CHAT,
        Answer(
            status=401,
            body={"error": {"message": f"Incorrect API key provided: {OPENAI_KEY}"}},
        ),
    )
    definition = {
        "name": "secrets",
        "steps": [
            {"id": "ok", "type": "llm", "provider": "anthropic", "model": "claude-3-5-haiku",
             "prompt": "hi"},
            {"id": "bad", "type": "llm", "provider": "openai", "model": "gpt-4o-mini",
             "prompt": "hi", "depends_on": ["ok"]},
        ],
    }  # fmt: skip
    caplog.set_level(logging.DEBUG)
    async with worker_for(config=config_for(fake)):
        handle = await start(client, task_queue, definition)
        _, error = await outcome(handle)
        progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
    history = (await handle.fetch_history()).to_json()
    assert error is not None and "Incorrect API key provided: ***" in error
    for text in (history, error, caplog.text, progress.model_dump_json()):
        assert OPENAI_KEY not in text
        assert ANTHROPIC_KEY not in text
        assert OPENAI_KEY[:12] not in text


@pytest.mark.usefixtures("keys")
async def test_usage_and_cost_totals_match_the_vendor_usage_fields(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    fake.then(CHAT, Answer(body=openai_chat("a", prompt_tokens=1000, completion_tokens=200)))
    fake.then(MESSAGES, Answer(body=anthropic_message("b", input_tokens=3000, output_tokens=500)))
    definition = yaml.safe_load(
        """
name: costs
steps:
  - {id: one, type: llm, provider: openai, model: gpt-4o-mini, prompt: x}
  - {id: two, type: llm, provider: anthropic, model: claude-3-5-haiku-latest, prompt: y}
  - {id: vec, type: embed, provider: openai, model: text-embedding-3-small, input: [a, b]}
"""
    )
    async with worker_for(config=config_for(fake)):
        result, error = await outcome(await start(client, task_queue, definition))
    assert error is None and result is not None
    expected_one = (1000 * 0.15 + 200 * 0.60) / 1e6
    expected_two = (3000 * 0.80 + 500 * 4.00) / 1e6
    expected_vec = (6 * 0.02) / 1e6
    steps = result.steps
    assert steps["one"].usage is not None and steps["two"].usage is not None
    assert steps["one"].usage.cost_usd == pytest.approx(expected_one)
    assert steps["two"].usage.cost_usd == pytest.approx(expected_two)
    assert result.usage.input_tokens == 1000 + 3000 + 6
    assert result.usage.output_tokens == 200 + 500
    assert result.usage.cost_usd == pytest.approx(expected_one + expected_two + expected_vec)
    assert len(result.steps["vec"].output) == 2


@pytest.mark.usefixtures("keys")
async def test_a_budget_stops_the_run_before_its_second_model_step(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    fake.then(CHAT, Answer(body=openai_chat("a", prompt_tokens=1000, completion_tokens=200)))
    definition = yaml.safe_load(
        """
name: budgeted
budget: {max_usd: 0.0001}
steps:
  - {id: first, type: llm, provider: openai, model: gpt-4o-mini, prompt: x}
  - {id: shape, type: transform, depends_on: [first], template: "{{ steps.first.output }}"}
  - {id: second, type: llm, provider: openai, model: gpt-4o-mini, prompt: y, depends_on: [shape]}
"""
    )
    async with worker_for(config=config_for(fake)):
        handle = await start(client, task_queue, definition)
        result, error = await outcome(handle)
        progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
    assert result is None and error is not None
    assert "budget exceeded before step `second`" in error
    assert "budget.max_usd $0.0001" in error
    assert "$0.000270" in error
    assert len(fake.requests(CHAT)) == 1
    assert progress.steps["shape"].status == "completed"
    assert progress.steps["second"].status == "skipped"


@pytest.mark.usefixtures("keys")
async def test_fault_storm_50_concurrent_runs_complete_and_open_breakers_send_nothing(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    fake.storm = True
    doc = yaml.safe_load(
        (Path(__file__).parents[2] / "examples/sentiment-analysis.yaml").read_text()
    )
    doc["defaults"]["retry"] = {"max_attempts": 30, "initial_interval": "100ms",
                                "max_interval": "1s"}  # fmt: skip
    config = config_for(fake, breaker_failures=2, breaker_cooldown=0.2)
    async with worker_for(config=config) as activities:
        handles = [
            await client.start_workflow(
                WORKFLOW_TYPE,
                {"definition": doc, "inputs": {"text": f"message {i}"}},
                id=f"storm-{i}-{uuid.uuid4().hex[:6]}",
                task_queue=task_queue,
                result_type=RunResult,
            )
            for i in range(50)
        ]
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 240)
        endpoints = dict(activities.providers.endpoints)
    assert len(results) == 50
    assert all(r.outputs["sentiment"] == "positive" for r in results)
    retried = sum(
        r.steps[s].attempts > 1 for r in results for s in ("extract_sentiment", "generate_response")
    )
    assert retried > 0
    opened = 0
    for endpoint in endpoints.values():
        opened += len(endpoint.breaker.opened)
        for start_open, probe_from in endpoint.breaker.opened:
            # nothing may be *sent* while the breaker is open (the probe comes at probe_from)
            assert not [t for t in endpoint.last_sent if start_open < t < probe_from - 0.001]
    assert opened > 0
    assert len(fake.requests()) == sum(e.requests_sent for e in endpoints.values())


@pytest.mark.usefixtures("keys")
async def test_a_stream_that_stalls_with_the_connection_open_is_retried(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    pieces = ["still ", "here"]
    fake.then(CHAT, Answer(sse=openai_stream(pieces), cut_after=1, stall=12.0))
    fake.then(CHAT, Answer(sse=openai_stream(pieces)))
    # timeout 10 s: the heartbeat timeout becomes 5 s, so the stall is caught well
    # before the attempt's own timeout (9 s for the HTTP call), connection still open
    step = one_step(stream=True, timeout="10s")
    async with worker_for(config=config_for(fake)):
        handle = await start(client, task_queue, step)
        result, error = await outcome(handle)
    assert error is None and result is not None
    assert result.outputs == {"answer": "still here"}
    sent = fake.requests(CHAT)
    assert len(sent) == 2
    assert sent[1].at - sent[0].at < 8.5
    history = (await handle.fetch_history()).to_json()
    assert "TIMEOUT_TYPE_HEARTBEAT" in history
