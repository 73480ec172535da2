"""Providers under real-world faults, through real runs on Temporal, against LLMock.

LLMock is an independent OpenAI/Anthropic-compatible server (a PyPI project we
did not write) on loopback: its 429s, 5xx, stalls and dropped streams are what a
vendor's look like on the wire, not what our own fake believes they look like.
The faults it cannot produce stay on the hand-written fake (test_providers.py).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import yaml
from llmock.pytest_plugin import LLMock
from llmock.testing import LLMockServer
from temporalio.client import Client

from activities.providers.config import ProviderSettings, load_worker_config
from interpreter.contract import QUERY_PROGRESS, Progress
from tests.helpers.net import free_port
from tests.helpers.providers import ANTHROPIC_KEY, OPENAI_KEY, config_for, one_step
from tests.helpers.runs import outcome, start_run

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("keys")]


async def test_429_with_retry_after_waits_as_told_then_succeeds(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock
) -> None:
    llmock.rate_limit(retry_after=1, provider="openai").reply("positive", provider="openai")
    async with worker_for(config=config_for(llmock)):
        result, error = await outcome(
            await start_run(client, task_queue, {"definition": one_step()})
        )
    assert error is None and result is not None
    assert result.outputs == {"answer": "positive"}
    sent = llmock.requests
    assert [r.status for r in sent] == [429, 200]
    # the retry policy alone would have waited 100 ms; Retry-After said 1 s
    assert sent[1].started_at - sent[0].started_at >= 0.95
    assert result.steps["ask"].attempts == 2


async def test_500_is_retried(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock
) -> None:
    llmock.fail(500, provider="openai")
    async with worker_for(config=config_for(llmock)):
        result, error = await outcome(
            await start_run(client, task_queue, {"definition": one_step()})
        )
    assert error is None and result is not None
    assert [r.status for r in llmock.requests] == [500, 200]


async def test_anthropic_529_overloaded_is_retried(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock
) -> None:
    llmock.fail(529, retry_after=0.1, provider="anthropic")
    async with worker_for(config=config_for(llmock)):
        result, error = await outcome(
            await start_run(client, task_queue, {"definition": one_step("anthropic")})
        )
    assert error is None and result is not None
    sent = llmock.requests
    assert [(r.provider, r.status) for r in sent] == [("anthropic", 529), ("anthropic", 200)]
    assert sent[0].body["max_tokens"] == 1024


@pytest.mark.parametrize(
    ("provider", "status", "message", "kept"),
    [
        (
            "openai",
            401,
            f"Incorrect API key provided: {OPENAI_KEY[:12]}****",
            "Incorrect API key provided",
        ),
        ("openai", 400, "max_tokens is too large: 99999999.", "max_tokens is too large"),
        ("anthropic", 400, "messages: empty", "messages: empty"),
    ],
)
async def test_client_errors_are_not_retried_and_keep_the_vendor_message(
    client: Client,
    task_queue: str,
    worker_for: Any,
    llmock: LLMock,
    provider: str,
    status: int,
    message: str,
    kept: str,
) -> None:
    llmock.fail(status, message=message, provider=provider)
    async with worker_for(config=config_for(llmock)):
        result, error = await outcome(
            await start_run(client, task_queue, {"definition": one_step(provider)})
        )
    assert result is None and error is not None
    assert len(llmock.requests) == 1
    assert "step `ask` failed" in error
    assert kept in error
    assert f"HTTP {status}" in error
    assert OPENAI_KEY[:12] not in error


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_stream_cut_half_way_is_retried_and_then_assembled(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, provider: str
) -> None:
    # four events in: part of the text has arrived when the connection drops
    llmock.reply("The answer is 42.", times=2, provider=provider)
    llmock.disconnect(after_chunks=4, provider=provider)
    async with worker_for(config=config_for(llmock)):
        result, error = await outcome(
            await start_run(client, task_queue, {"definition": one_step(provider, stream=True)})
        )
    assert error is None and result is not None
    assert result.outputs == {"answer": "The answer is 42."}
    first, second = llmock.requests
    assert (first.fault, first.completed) == ("stream:disconnect@4", False)
    assert second.completed
    usage = result.steps["ask"].usage
    assert usage is not None and usage.input_tokens > 0 and usage.output_tokens > 0


async def test_a_server_that_never_answers_hits_the_step_timeout(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, llmock_server: LLMockServer
) -> None:
    # each attempt has 4 s (its HTTP call 3 s): time enough to send the request on a busy
    # machine; the server answers 5 s after a request arrives, after its attempt has ended
    llmock.delay(5, times=2, provider="openai")
    step = one_step(timeout="4s", retry={"max_attempts": 2, "initial_interval": "100ms"})
    async with worker_for(config=config_for(llmock)):
        result, error = await outcome(await start_run(client, task_queue, {"definition": step}))
    assert result is None and error is not None
    # a request is journaled when its late answer goes out: wait for both
    assert len(llmock_server.state.journal.records(wait=15)) == 2
    assert "no answer within" in error or "timed out" in error


async def test_a_stream_that_stalls_with_the_connection_open_is_retried(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, llmock_server: LLMockServer
) -> None:
    llmock.reply("still here", times=2, provider="openai")
    llmock.stall(after_chunks=1, seconds=7, provider="openai")
    # timeout 10 s: the heartbeat timeout becomes 5 s, so the stall is caught before it
    # ends (7 s) and well before the attempt's own timeout (9 s for the HTTP call); had
    # it not been caught, the first attempt would have finished after the stall
    step = one_step(stream=True, timeout="10s")
    async with worker_for(config=config_for(llmock)):
        handle = await start_run(client, task_queue, {"definition": step})
        result, error = await outcome(handle)
    assert error is None and result is not None
    assert result.outputs == {"answer": "still here"}
    # the stalled request ends on the server when its stall does
    first, second = llmock_server.state.journal.records(wait=10)
    assert first.fault == "stream:stall@1"
    assert second.started_at - first.started_at < 8.5
    history = (await handle.fetch_history()).to_json()
    assert "TIMEOUT_TYPE_HEARTBEAT" in history


async def test_breaker_opens_fails_fast_without_requests_then_closes(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock
) -> None:
    llmock.fail(503, retry_after=0.2, times=2, provider="openai")
    config = config_for(llmock, breaker_failures=2, breaker_cooldown=2.0)
    step = one_step(retry={"max_attempts": 6, "initial_interval": "200ms", "jitter": False})
    async with worker_for(config=config) as activities:
        result, error = await outcome(await start_run(client, task_queue, {"definition": step}))
        endpoint = activities.providers.endpoints["openai"]
    assert error is None and result is not None
    sent = llmock.requests
    # two failures open the breaker; the next attempt is refused locally and retried
    # when the cool-down ends, so the server sees exactly one more request: the probe
    assert [r.status for r in sent] == [503, 503, 200]
    assert sent[2].started_at - sent[1].started_at >= 1.9
    assert endpoint.breaker.state == "closed"
    assert result.steps["ask"].attempts == 4


async def test_connection_refused_is_retryable_and_opens_the_breaker(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    port = free_port()
    config = load_worker_config(env={})
    providers = dict(config.providers)
    providers["openai"] = ProviderSettings(
        base_url=f"http://127.0.0.1:{port}/v1", api_key_env="OPENAI_API_KEY",
        breaker_failures=2, breaker_cooldown=30.0, http2=False,
    )  # fmt: skip
    step = one_step(retry={"max_attempts": 3, "initial_interval": "100ms", "jitter": False})
    async with worker_for(config=config.model_copy(update={"providers": providers})) as acts:
        handle = await start_run(client, task_queue, {"definition": step})
        result, error = await outcome(handle)
        endpoint = acts.providers.endpoints["openai"]
    assert result is None and error is not None
    # attempts 1 and 2 hit the closed port; attempt 3 is refused by the open breaker
    assert endpoint.requests_sent == 2
    assert endpoint.breaker.state == "open"
    # the final error names the cause that opened the breaker, not just the breaker
    assert f"connection refused to 127.0.0.1:{port} (circuit open since " in error
    history = (await handle.fetch_history()).to_json()
    assert f"connection refused to 127.0.0.1:{port}" in history


async def test_a_missing_key_fails_at_once_with_what_to_set(
    client: Client, task_queue: str, worker_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    # the vendor's hosted API needs a key; another base URL may not (test_provider_defects)
    async with worker_for(config=load_worker_config(env={})):
        result, error = await outcome(
            await start_run(client, task_queue, {"definition": one_step()})
        )
    assert result is None and error is not None
    assert "set OPENAI_API_KEY on the worker" in error


async def test_keys_never_reach_history_results_errors_or_logs(
    client: Client,
    task_queue: str,
    worker_for: Any,
    llmock: LLMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # OpenAI's 401 quotes the key it was sent
    llmock.fail(401, message=f"Incorrect API key provided: {OPENAI_KEY}", provider="openai")
    definition = yaml.safe_load(
        """
name: secrets
steps:
  - {id: ok, type: llm, provider: anthropic, model: claude-3-5-haiku, prompt: hi}
  - {id: bad, type: llm, provider: openai, model: gpt-4o-mini, prompt: hi, depends_on: [ok]}
"""
    )
    caplog.set_level(logging.DEBUG)
    async with worker_for(config=config_for(llmock)):
        handle = await start_run(client, task_queue, {"definition": definition})
        _, error = await outcome(handle)
        progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
    history = (await handle.fetch_history()).to_json()
    assert [(r.provider, r.status) for r in llmock.requests] == [
        ("anthropic", 200),
        ("openai", 401),
    ]
    assert error is not None and "Incorrect API key provided: ***" in error
    for text in (history, error, caplog.text, progress.model_dump_json()):
        assert OPENAI_KEY not in text
        assert ANTHROPIC_KEY not in text
        assert OPENAI_KEY[:12] not in text
