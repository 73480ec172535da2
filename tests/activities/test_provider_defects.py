"""Provider defects met against real model servers (issues 11 and 12), each reproduced
through a real run on Temporal against a loopback server speaking the vendor's wire format."""

from __future__ import annotations

import base64
import json
import logging
import math
from typing import Any

import pytest
from llmock.pytest_plugin import LLMock
from temporalio.client import Client

from activities.providers.config import ProviderSettings, load_worker_config
from tests.fakes.vendors import Answer, FakeVendor, anthropic_stream, openai_chat, openai_stream
from tests.helpers.providers import CHAT, MESSAGES, OPENAI_KEY, config_for, one_step
from tests.helpers.runs import outcome, start_run

pytestmark = pytest.mark.asyncio(loop_scope="session")

EMBEDDINGS = "/v1/embeddings"
PROMPT = "Say something"  # 13 characters: 4 estimated tokens
ANSWER = "a fairly long streamed answer"  # 29 characters: 8 estimated tokens


def history_text(history: Any) -> str:
    """The run's history as text, payloads decoded (``to_json`` leaves them base64)."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "data" and isinstance(value, str):
                    parts.append(base64.b64decode(value).decode("utf-8", "replace"))
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            parts.append(node)

    walk(json.loads(history.to_json()))
    return "\n".join(parts)


def openai_stream_without_usage(text: str) -> list[tuple[str | None, str]]:
    """What llama.cpp's server sends: chunks and [DONE], no usage chunk."""
    return [e for e in openai_stream([text]) if '"usage"' not in e[1]]


def anthropic_stream_without_usage(text: str) -> list[tuple[str | None, str]]:
    events = []
    for event, data in anthropic_stream([text]):
        payload = json.loads(data)
        payload.pop("usage", None)
        payload.get("message", {}).pop("usage", None)
        events.append((event, json.dumps(payload)))
    return events


# --- 11.1: no usage from the server: estimated, marked, and counted by budgets ----------


@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_stream_without_usage_records_an_estimate_not_zero(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor, provider: str
) -> None:
    if provider == "openai":
        fake.then(CHAT, Answer(sse=openai_stream_without_usage(ANSWER)))
    else:
        fake.then(MESSAGES, Answer(sse=anthropic_stream_without_usage(ANSWER)))
    async with worker_for(config=config_for(fake)):
        result, error = await outcome(
            await start_run(
                client, task_queue, {"definition": one_step(provider, prompt=PROMPT, stream=True)}
            )
        )
    assert error is None and result is not None
    usage = result.steps["ask"].usage
    assert usage is not None
    assert usage.estimated is True
    assert (usage.input_tokens, usage.output_tokens) == (4, math.ceil(len(ANSWER) / 4))
    assert usage.cost_usd > 0
    assert result.usage.estimated is True


@pytest.mark.usefixtures("keys")
async def test_a_run_budget_stops_streamed_steps_whose_server_sends_no_usage(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    fake.then(CHAT, *[Answer(sse=openai_stream_without_usage(ANSWER))] * 2)
    first = one_step(prompt=PROMPT, stream=True)["steps"][0]
    second = {**first, "id": "again", "depends_on": ["ask"]}
    definition = {"name": "budgeted", "budget": {"max_tokens": 10}, "steps": [first, second]}
    async with worker_for(config=config_for(fake)):
        result, error = await outcome(
            await start_run(client, task_queue, {"definition": definition})
        )
    assert result is None and error is not None
    assert "budget exceeded before step `again`" in error
    assert "used 12 tokens" in error
    assert len(fake.requests(CHAT)) == 1


@pytest.mark.usefixtures("keys")
async def test_vendor_usage_is_not_marked_estimated(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    async with worker_for(config=config_for(fake)):
        result, _ = await outcome(
            await start_run(client, task_queue, {"definition": one_step(stream=True)})
        )
    assert result is not None and result.steps["ask"].usage is not None
    assert result.steps["ask"].usage.estimated is False
    assert result.steps["ask"].usage.input_tokens == 9  # the fake stream's usage chunk


# --- 11.2: per-token embeddings (a server without pooling) ------------------------------

PER_TOKEN = {
    "object": "list",
    "model": "nomic-embed",
    "data": [{"object": "embedding", "index": 0, "embedding": [[1.0, 2.0], [3.0, 6.0]]}],
}


def embed_step(**step: Any) -> dict[str, Any]:
    return {
        "name": "embed-one",
        "steps": [
            {
                "id": "vec",
                "type": "embed",
                "provider": "openai",
                "model": "nomic-embed",
                "input": "hello world",
                "retry": {"max_attempts": 3, "initial_interval": "100ms", "jitter": False},
                **step,
            }
        ],
    }


@pytest.mark.usefixtures("keys")
async def test_per_token_embeddings_fail_at_once_saying_how_to_start_the_server(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    fake.then(EMBEDDINGS, *[Answer(body=PER_TOKEN)] * 3)
    async with worker_for(config=config_for(fake)):
        result, error = await outcome(
            await start_run(client, task_queue, {"definition": embed_step()})
        )
    assert result is None and error is not None
    assert "per-token embeddings (2 vectors of 2 numbers for input 0)" in error
    assert "--pooling mean" in error and "pooling: mean" in error
    assert len(fake.requests(EMBEDDINGS)) == 1  # not retried: the server's setup is the cause


@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize("where", ["step", "provider"])
async def test_per_token_embeddings_are_mean_pooled_when_asked(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor, where: str
) -> None:
    fake.then(EMBEDDINGS, Answer(body=PER_TOKEN))
    if where == "step":
        config, definition = config_for(fake), embed_step(pooling="mean")
    else:
        config, definition = config_for(fake, pooling="mean"), embed_step()
    async with worker_for(config=config):
        result, error = await outcome(
            await start_run(client, task_queue, {"definition": definition})
        )
    assert error is None and result is not None
    assert result.steps["vec"].output == [2.0, 4.0]
    usage = result.steps["vec"].usage
    assert usage is not None and usage.estimated and usage.input_tokens == 3


# --- 11.4: a JSON body answering a streamed request --------------------------------------


@pytest.mark.usefixtures("keys")
async def test_a_json_error_answering_a_stream_keeps_the_vendor_message_and_is_not_retried(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    error_body = {
        "error": {"message": "streaming is not supported for this model", "type": "invalid"}
    }
    fake.then(CHAT, *[Answer(body=error_body)] * 3)
    async with worker_for(config=config_for(fake)):
        result, error = await outcome(
            await start_run(client, task_queue, {"definition": one_step(stream=True)})
        )
    assert result is None and error is not None
    assert "streaming is not supported for this model" in error
    assert "[DONE]" not in error
    assert len(fake.requests(CHAT)) == 1


@pytest.mark.usefixtures("keys")
async def test_a_whole_json_reply_to_a_stream_is_read_as_the_reply(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    fake.then(CHAT, Answer(body=openai_chat("whole answer", prompt_tokens=7)))
    async with worker_for(config=config_for(fake)):
        result, error = await outcome(
            await start_run(client, task_queue, {"definition": one_step(stream=True)})
        )
    assert error is None and result is not None
    assert result.outputs == {"answer": "whole answer"}
    assert result.steps["ask"].usage is not None
    assert result.steps["ask"].usage.input_tokens == 7
    assert len(fake.requests(CHAT)) == 1


# --- 11.5: OPENAI_BASE_URL without a key ---------------------------------------------------


async def test_a_base_url_without_a_key_sends_no_authorization(
    client: Client,
    task_queue: str,
    worker_for: Any,
    fake: FakeVendor,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{fake.url}/v1")
    config = load_worker_config(env={"OPENAI_BASE_URL": f"{fake.url}/v1"})
    providers = {**config.providers}
    providers["openai"] = providers["openai"].model_copy(update={"http2": False})
    caplog.set_level(logging.DEBUG, logger="activities.providers.registry")
    async with worker_for(config=config.model_copy(update={"providers": providers})):
        result, error = await outcome(
            await start_run(client, task_queue, {"definition": one_step()})
        )
    assert error is None and result is not None
    assert result.outputs == {"answer": "positive"}
    assert "authorization" not in fake.requests(CHAT)[0].headers
    assert "OPENAI_API_KEY is not set, sending no key to" in caplog.text


# --- 12.10: a reply echoing the key -------------------------------------------------------


async def test_a_reply_echoing_the_key_never_reaches_result_or_history(
    client: Client,
    task_queue: str,
    worker_for: Any,
    llmock: LLMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", llmock.base_url("openai"))
    echo = f"Your key is {OPENAI_KEY.upper()}; as sent: Authorization: Bearer {OPENAI_KEY}"
    llmock.reply(echo)
    async with worker_for(config=load_worker_config()):
        handle = await start_run(client, task_queue, {"definition": one_step()})
        result, error = await outcome(handle)
    assert error is None and result is not None
    assert result.outputs["answer"].startswith("Your key is ***")
    texts = [result.model_dump_json(), history_text(await handle.fetch_history())]
    for text in texts:
        assert OPENAI_KEY.lower() not in text.lower()
        assert OPENAI_KEY[:12].lower() not in text.lower()


# --- 12.11: Idempotency-Key ---------------------------------------------------------------


@pytest.mark.usefixtures("keys")
async def test_retries_of_one_step_carry_one_idempotency_key_and_runs_differ(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    fake.then(CHAT, Answer(status=500, body={"error": {"message": "lost"}}))
    async with worker_for(config=config_for(fake)):
        first, _ = await outcome(await start_run(client, task_queue, {"definition": one_step()}))
        second, _ = await outcome(await start_run(client, task_queue, {"definition": one_step()}))
    assert first is not None and second is not None
    sent = [r.headers.get("idempotency-key") for r in fake.requests(CHAT)]
    assert len(sent) == 3
    assert sent[0] is not None and sent[0].startswith("llmo-")
    assert sent[0] == sent[1]  # the retry after a failed attempt: the same key
    assert sent[2] != sent[0]  # another run


@pytest.mark.usefixtures("keys")
async def test_each_embedding_batch_has_its_own_idempotency_key(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    async with worker_for(config=config_for(fake)):
        result, _ = await outcome(
            await start_run(
                client, task_queue, {"definition": embed_step(input=["one", "two"], batch_size=1)}
            )
        )
    assert result is not None
    keys = [r.headers.get("idempotency-key") for r in fake.requests(EMBEDDINGS)]
    assert len(keys) == 2 and None not in keys and keys[0] != keys[1]


async def test_no_idempotency_header_when_a_provider_turns_it_off(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor
) -> None:
    config = load_worker_config(env={})
    providers = {
        **config.providers,
        "openai": ProviderSettings(base_url=f"{fake.url}/v1", http2=False, idempotency_header=None),
    }
    async with worker_for(config=config.model_copy(update={"providers": providers})):
        result, _ = await outcome(await start_run(client, task_queue, {"definition": one_step()}))
    assert result is not None
    assert "idempotency-key" not in fake.requests(CHAT)[0].headers
