"""Fallback chains on model steps, against LLMock (an independent OpenAI/Anthropic-compatible
server) scripted to fail, and a real Temporal dev server.

The chain falls through in order on transient failures (5xx, 429, an open breaker, a
context-length error), stops at a rejected request (401) unless `fallback_on: any`, names the
model that answered and why each earlier one was left, and shows every entry as its own
activity in the history.
"""

from __future__ import annotations

from typing import Any

import pytest
from llmock.pytest_plugin import LLMock
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from activities.providers.config import ProviderSettings
from interpreter.loader import load_text
from tests.helpers.problems import load_problems
from tests.helpers.providers import config_for
from tests.helpers.runs import failure_of, run_to_end, start_run

pytestmark = pytest.mark.usefixtures("keys")

CLAUDE = "claude-3-5-haiku-latest"
FAST = {"max_attempts": 2, "initial_interval": "50ms", "jitter": False}


def chain(*fallback: dict[str, Any], defaults: dict[str, Any] | None = None, **step: Any) -> dict:
    """A one-step file: `ask` on openai/gpt-4o-mini with ``fallback`` entries."""
    llm: dict[str, Any] = {
        "id": "ask",
        "type": "llm",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "prompt": "Say something",
        "retry": FAST,
        **step,
    }
    if fallback:
        llm["fallback"] = list(fallback)
    return {
        "name": "fallback",
        "defaults": defaults or {},
        "steps": [llm],
        "outputs": {
            "text": "{{ steps.ask.output }}",
            "who": "{{ steps.ask.answered_by.provider }}/{{ steps.ask.answered_by.model }}",
        },
    }


def served(llmock: LLMock) -> list[tuple[str, str | None, int]]:
    """(vendor, model, status) of every request LLMock received, in order."""
    return [(r.provider, r.model, r.status) for r in llmock.requests]


@pytest.mark.asyncio(loop_scope="session")
async def test_the_chain_falls_through_in_order_and_the_record_says_who_answered(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock
) -> None:
    llmock.fail(500, times=None, model="gpt-4o-mini", message="the primary is down")
    llmock.rate_limit(times=None, retry_after=0.05, provider="anthropic")
    llmock.reply("from the third model")
    definition = chain(
        {"provider": "anthropic", "model": CLAUDE},
        {"provider": "openai", "model": "gpt-4o", "timeout": "20s"},
    )
    async with worker_for(config=config_for(llmock)):
        handle = await start_run(client, task_queue, {"definition": definition})
        result = await handle.result()

    assert result.outputs == {"text": "from the third model", "who": "openai/gpt-4o"}
    record = result.steps["ask"]
    assert record.answered_by is not None
    assert (record.answered_by.provider, record.answered_by.model) == ("openai", "gpt-4o")
    first, second = record.answered_by.skipped
    assert (first.provider, first.model, first.attempts) == ("openai", "gpt-4o-mini", 2)
    assert "HTTP 500" in first.error and "the primary is down" in first.error
    assert "[ProviderError]" in first.error
    assert (second.provider, second.model, second.attempts) == ("anthropic", CLAUDE, 2)
    assert "HTTP 429" in second.error
    assert record.attempts == 5  # 2 + 2 + the one that answered
    assert served(llmock) == [
        ("openai", "gpt-4o-mini", 500),
        ("openai", "gpt-4o-mini", 500),
        ("anthropic", CLAUDE, 429),
        ("anthropic", CLAUDE, 429),
        ("openai", "gpt-4o", 200),
    ]
    # every entry is its own activity, named in the Web UI's timeline
    history = await handle.fetch_history()
    converter = client.data_converter.payload_converter
    summaries = [
        converter.from_payload(e.user_metadata.summary, str)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert summaries == [
        "ask · llm openai/gpt-4o-mini",
        f"ask · llm anthropic/{CLAUDE} (fallback 1)",
        "ask · llm openai/gpt-4o (fallback 2)",
    ]


@pytest.mark.asyncio(loop_scope="session")
async def test_a_rejected_key_stops_the_chain_unless_fallback_on_any(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock
) -> None:
    llmock.fail(401, times=None, provider="openai", message="Incorrect API key provided")
    llmock.reply("claude answers", provider="anthropic")
    async with worker_for(config=config_for(llmock)):
        message = await failure_of(
            client, task_queue, {"definition": chain({"provider": "anthropic", "model": CLAUDE})}
        )
        assert "HTTP 401" in message and "[ProviderRejected]" in message
        assert "fallback_on: any" in message  # says how to move on anyway
        assert served(llmock) == [("openai", "gpt-4o-mini", 401)]  # not retried, not fallen

        result = await run_to_end(
            client,
            task_queue,
            {"definition": chain({"provider": "anthropic", "model": CLAUDE}, fallback_on="any")},
        )
    assert result.outputs["text"] == "claude answers"
    record = result.steps["ask"]
    assert record.answered_by is not None and record.answered_by.provider == "anthropic"
    (left,) = record.answered_by.skipped
    assert left.attempts == 1 and "HTTP 401" in left.error


@pytest.mark.asyncio(loop_scope="session")
async def test_an_open_breaker_moves_on_at_once(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock
) -> None:
    llmock.outage(status=503, provider="openai")
    llmock.reply("claude answers", times=None, provider="anthropic")
    config = config_for(llmock, breaker_failures=1, breaker_cooldown=120)
    definition = chain(
        {"provider": "anthropic", "model": CLAUDE},
        retry={"max_attempts": 5, "initial_interval": "50ms", "jitter": False},
    )
    async with worker_for(config=config):
        first = await run_to_end(client, task_queue, {"definition": definition})
        second = await run_to_end(client, task_queue, {"definition": definition})

    # first run: one 503 opens the breaker; the next attempt is refused by it and the
    # chain moves on instead of waiting two minutes for a probe (3 attempts left unused)
    (left,) = first.steps["ask"].answered_by.skipped  # type: ignore[union-attr]
    assert left.attempts == 2
    assert "circuit open" in left.error and "[CircuitOpen]" in left.error
    assert "HTTP 503" in left.error  # the cause that opened it leads
    # second run: refused at once, no request sent to openai
    (left,) = second.steps["ask"].answered_by.skipped  # type: ignore[union-attr]
    assert left.attempts == 1 and "[CircuitOpen]" in left.error
    assert second.outputs["text"] == "claude answers"
    assert [s for s in served(llmock) if s[0] == "openai"] == [("openai", "gpt-4o-mini", 503)]


@pytest.mark.asyncio(loop_scope="session")
async def test_context_length_moves_on_and_defaults_fallback_applies_file_wide(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock
) -> None:
    llmock.context_overflow(times=None, provider="openai")
    llmock.reply("a larger window", provider="anthropic")
    definition = chain(defaults={"fallback": [{"provider": "anthropic", "model": CLAUDE}]})
    async with worker_for(config=config_for(llmock)):
        result = await run_to_end(client, task_queue, {"definition": definition})
        # `fallback: []` on the step turns the file's chain off
        message = await failure_of(
            client,
            task_queue,
            {"definition": chain(defaults=definition["defaults"], fallback=[])},
        )
    assert result.outputs == {"text": "a larger window", "who": f"anthropic/{CLAUDE}"}
    (left,) = result.steps["ask"].answered_by.skipped  # type: ignore[union-attr]
    assert left.attempts == 1  # not retried: the prompt will not shrink
    assert "[ContextLengthExceeded]" in left.error
    assert "[ContextLengthExceeded]" in message and "fallback" not in message


@pytest.mark.asyncio(loop_scope="session")
async def test_every_entry_failing_lists_each_error(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock
) -> None:
    llmock.fail(500, times=None, provider="openai", message="openai melted")
    llmock.fail(529, times=None, provider="anthropic", message="anthropic overloaded")
    definition = chain(
        {"provider": "anthropic", "model": CLAUDE, "retry": {"max_attempts": 1}},
        {"provider": "nowhere", "model": "x"},
    )
    async with worker_for(config=config_for(llmock)):
        message = await failure_of(client, task_queue, {"definition": definition})
    assert "every model of the fallback chain failed" in message
    primary, second, third = message.split("; ", 2)
    assert "openai/gpt-4o-mini:" in primary and "openai melted" in primary
    assert f"anthropic/{CLAUDE}:" in second and "anthropic overloaded" in second
    # a provider the worker does not know is found when its turn comes, as for `provider:`
    assert "nowhere/x:" in third and "`nowhere` is not configured on this worker" in third
    assert [s[0] for s in served(llmock)] == ["openai", "openai", "anthropic"]


@pytest.mark.asyncio(loop_scope="session")
async def test_embed_falls_back_to_the_same_model_elsewhere(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock
) -> None:
    config = config_for(llmock)
    mirror = ProviderSettings(base_url=llmock.base_url("openai"), http2=False)
    config = config.model_copy(update={"providers": {**config.providers, "mirror": mirror}})
    llmock.fail(502, times=2, provider="openai", message="bad gateway")
    definition = {
        "name": "embed-fallback",
        "steps": [
            {
                "id": "vec",
                "type": "embed",
                "model": "text-embedding-3-small",
                "input": "hello",
                "retry": FAST,
                "fallback": [{"provider": "mirror"}],
            }
        ],
    }
    async with worker_for(config=config):
        result = await run_to_end(client, task_queue, {"definition": definition})
    record = result.steps["vec"]
    assert isinstance(record.output, list) and len(record.output) > 0
    assert record.answered_by is not None
    assert (record.answered_by.provider, record.answered_by.model) == (
        "mirror",
        "text-embedding-3-small",
    )
    assert "HTTP 502" in record.answered_by.skipped[0].error


def _problems(text: str) -> list[str]:
    return load_problems(text)


def test_bad_fallback_entries_are_located_errors() -> None:
    problems = _problems(
        """\
name: bad
defaults:
  fallback:
    - {provider: anthropic, modle: claude}
  fallback_on: sometimes
steps:
  - id: ask
    type: llm
    prompt: hi
    repair_attempts: -1
    fallback:
      - {model: gpt-4o}
      - {provider: "", model: x}
      - {provider: ollama, model: llama3.2, timeout: 5 minutes}
"""
    )
    text = "\n".join(problems)
    assert "w.yaml:4:" in text and "modle" in text  # unknown field, located, with a hint
    assert "w.yaml:5:" in text  # fallback_on
    assert "w.yaml:10:" in text  # repair_attempts
    assert "w.yaml:12:" in text and "provider" in text  # provider is required
    assert "w.yaml:13:" in text  # empty provider name
    assert "w.yaml:14:" in text  # the duration
    assert len(problems) == 6, text


def test_answered_by_is_a_known_step_field_for_templates() -> None:
    definition = load_text(
        """\
name: ok
inputs: {}
steps:
  - id: ask
    type: llm
    prompt: hi
    fallback: [{provider: anthropic, model: claude-3-5-haiku-latest}]
outputs:
  who: "{{ steps.ask.answered_by.model }}"
""",
        "w.yaml",
    )
    assert definition.steps[0].fallback[0].provider == "anthropic"  # type: ignore[union-attr,index]
