"""The step cache through real runs: Temporal's dev server, a worker, LLMock counting requests.

What a user notices: a second run of the same request sends nothing to the model
and says `cached`; entries expire; a `key` template names the answer; the
temperature rule; a broken store costs the cache, never the run; two workers
writing one key; offline and real answers kept apart; the PostgreSQL store.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from llmock.pytest_plugin import LLMock
from temporalio.client import Client

from activities import ActivitySettings, WorkerActivities
from activities.cache import PostgresCache, SqliteCache
from llm_orchestrator.progress import step_line
from llm_orchestrator.worker import build_worker
from tests.conftest import EXAMPLES
from tests.helpers.net import free_port
from tests.helpers.providers import config_for, one_step
from tests.helpers.runs import run_to_end

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("keys")]


def _settings(cache: str, tmp_path: Path) -> ActivitySettings:
    return ActivitySettings(catalog_dir=EXAMPLES, vectors_dir=tmp_path / "vectors", cache_url=cache)


@pytest.fixture
def cache_file(tmp_path: Path) -> Path:
    return tmp_path / "step-cache.sqlite3"


def _chat_requests(llmock: LLMock) -> int:
    return sum(1 for r in llmock.requests if r.path.endswith("/chat/completions"))


async def _twice(
    client: Client,
    task_queue: str,
    worker_for: Any,
    llmock: LLMock,
    settings: ActivitySettings,
    first: dict[str, Any],
    second: dict[str, Any] | None = None,
) -> tuple[Any, Any]:
    async with worker_for(settings=settings, config=config_for(llmock)):
        one = await run_to_end(client, task_queue, first)
        two = await run_to_end(client, task_queue, second or first)
    return one, two


async def test_second_run_sends_no_request_and_says_cached(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, cache_file: Path
) -> None:
    llmock.reply("positive", provider="openai")
    run = {"definition": one_step(cache=True)}
    one, two = await _twice(
        client, task_queue, worker_for, llmock, _settings(str(cache_file), cache_file.parent), run
    )
    assert _chat_requests(llmock) == 1
    assert one.outputs == two.outputs == {"answer": "positive"}
    first, again = one.steps["ask"], two.steps["ask"]
    assert first.reason is None and first.usage is not None and not first.usage.cached
    assert first.usage.input_tokens > 0
    assert again.reason == "cached"
    # a hit spent nothing: the run's totals and budgets see 0 tokens and $0
    assert again.usage is not None and again.usage.cached
    assert (again.usage.input_tokens, again.usage.output_tokens, again.usage.cost_usd) == (0, 0, 0)
    assert two.usage.input_tokens == 0
    # the model and token count the answer came with stay in its outputs
    assert again.outputs == first.outputs
    assert step_line(again).endswith(" — cached")
    assert SqliteCache(cache_file).stats().entries == 1


async def test_embed_step_is_cached(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, cache_file: Path
) -> None:
    step = {
        "id": "vec",
        "type": "embed",
        "provider": "openai",
        "model": "text-embedding-3-small",
        "input": ["one", "two"],
        "cache": {"ttl": "1h"},
    }
    run = {"definition": {"name": "embed-cached", "steps": [step]}}
    one, two = await _twice(
        client, task_queue, worker_for, llmock, _settings(str(cache_file), cache_file.parent), run
    )
    assert sum(1 for r in llmock.requests if r.path.endswith("/embeddings")) == 1
    assert two.steps["vec"].reason == "cached"
    assert two.steps["vec"].output == one.steps["vec"].output
    assert len(two.steps["vec"].output) == 2


async def test_an_expired_entry_is_asked_again(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, cache_file: Path
) -> None:
    run = {"definition": one_step(cache={"ttl": "1s"})}
    async with worker_for(
        settings=_settings(str(cache_file), cache_file.parent), config=config_for(llmock)
    ):
        await run_to_end(client, task_queue, run)
        hit = await run_to_end(client, task_queue, run)
        await asyncio.sleep(1.2)
        expired = await run_to_end(client, task_queue, run)
    assert hit.steps["ask"].reason == "cached"
    assert expired.steps["ask"].reason is None
    assert _chat_requests(llmock) == 2


async def test_a_key_template_names_the_answer(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, cache_file: Path
) -> None:
    definition = one_step(
        prompt="Summarize {{ inputs.doc }} (asked at {{ inputs.at }})",
        cache={"key": "summary-{{ inputs.doc }}"},
    )

    def run(doc: str, at: str) -> dict[str, Any]:
        return {"definition": definition, "inputs": {"doc": doc, "at": at}}

    async with worker_for(
        settings=_settings(str(cache_file), cache_file.parent), config=config_for(llmock)
    ):
        first = await run_to_end(client, task_queue, run("a", "9:00"))
        # another prompt, the same key: the answer kept for `summary-a`
        same_key = await run_to_end(client, task_queue, run("a", "10:00"))
        other_key = await run_to_end(client, task_queue, run("b", "9:00"))
    assert first.steps["ask"].reason is None
    assert same_key.steps["ask"].reason == "cached"
    assert same_key.outputs == first.outputs
    assert other_key.steps["ask"].reason is None
    assert _chat_requests(llmock) == 2


async def test_temperature_above_zero_is_cached_only_when_the_step_asks(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, cache_file: Path
) -> None:
    def file(**step: Any) -> dict[str, Any]:
        definition = one_step(**step)
        definition["defaults"] = {"cache": {"ttl": "1h"}}
        return {"definition": definition}

    sampled = file(temperature=0.7, prompt="Write a slogan")
    asked = file(temperature=0.7, prompt="Write a tagline", cache=True)
    greedy = file(prompt="Classify this")  # temperature unset: defaults.cache applies
    async with worker_for(
        settings=_settings(str(cache_file), cache_file.parent), config=config_for(llmock)
    ):
        results = {
            name: [await run_to_end(client, task_queue, run) for _ in range(2)]
            for name, run in (("sampled", sampled), ("asked", asked), ("greedy", greedy))
        }
    reasons = {name: [r.steps["ask"].reason for r in runs] for name, runs in results.items()}
    assert reasons == {
        "sampled": [None, None],
        "asked": [None, "cached"],
        "greedy": [None, "cached"],
    }
    assert _chat_requests(llmock) == 4


async def test_offline_and_real_runs_never_share_answers(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, cache_file: Path
) -> None:
    llmock.reply("from the model", provider="openai")
    definition = one_step(cache=True, mock_response="from the offline provider")
    async with worker_for(
        settings=_settings(str(cache_file), cache_file.parent), config=config_for(llmock)
    ):
        offline = await run_to_end(client, task_queue, {"definition": definition, "offline": True})
        real = await run_to_end(client, task_queue, {"definition": definition})
        offline_again = await run_to_end(
            client, task_queue, {"definition": definition, "offline": True}
        )
    assert offline.outputs == {"answer": "from the offline provider"}
    assert real.outputs == {"answer": "from the model"}
    assert real.steps["ask"].reason is None
    assert offline_again.steps["ask"].reason == "cached"
    assert offline_again.outputs == offline.outputs
    assert _chat_requests(llmock) == 1
    assert SqliteCache(cache_file).stats().entries == 2


async def test_a_corrupt_cache_file_runs_uncached_and_says_so(
    client: Client,
    task_queue: str,
    worker_for: Any,
    llmock: LLMock,
    cache_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache_file.write_bytes(b"this is not a SQLite database\n" * 200)
    caplog.set_level(logging.WARNING)
    run = {"definition": one_step(cache=True)}
    one, two = await _twice(
        client, task_queue, worker_for, llmock, _settings(str(cache_file), cache_file.parent), run
    )
    assert one.steps["ask"].status == two.steps["ask"].status == "completed"
    assert two.steps["ask"].reason is None
    assert _chat_requests(llmock) == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "ask: running uncached: the step cache is unavailable" in m and str(cache_file) in m
        for m in warnings
    ), warnings


async def test_a_database_that_is_down_runs_uncached_and_says_so(
    client: Client,
    task_queue: str,
    worker_for: Any,
    llmock: LLMock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    url = f"postgresql://cache:secret@127.0.0.1:{free_port()}/cache"
    run = {"definition": one_step(cache=True)}
    async with worker_for(settings=_settings(url, tmp_path), config=config_for(llmock)):
        result = await run_to_end(client, task_queue, run)
    assert result.steps["ask"].status == "completed"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("running uncached" in m and "cache:***@127.0.0.1" in m for m in warnings)
    assert not any("secret" in m for m in warnings)


async def test_two_workers_writing_one_key_at_once(
    client: Client, task_queue: str, llmock: LLMock, cache_file: Path
) -> None:
    """Two workers (two task queues) share one SQLite file; both miss, both call the
    model and write the same key at once: both runs complete and one entry is kept."""
    llmock.delay(0.5, times=2, provider="openai")
    queues = [task_queue, f"{task_queue}-b"]
    pool = [
        WorkerActivities(_settings(str(cache_file), cache_file.parent), config_for(llmock))
        for _ in queues
    ]
    workers = [build_worker(client, a, task_queue=q) for a, q in zip(pool, queues, strict=True)]
    run = {"definition": one_step(cache=True)}
    try:
        async with workers[0], workers[1]:
            both = await asyncio.gather(*(run_to_end(client, q, run) for q in queues))
            third = await run_to_end(client, queues[1], run)
    finally:
        for activities in pool:
            await activities.aclose()
    assert [r.steps["ask"].status for r in both] == ["completed", "completed"]
    assert _chat_requests(llmock) == 2
    assert SqliteCache(cache_file).stats().entries == 1
    assert third.steps["ask"].reason == "cached"
    assert third.outputs in [r.outputs for r in both]


async def test_postgres_store_through_a_worker(
    client: Client,
    task_queue: str,
    worker_for: Any,
    llmock: LLMock,
    tmp_path: Path,
    postgres_uri: str,
) -> None:
    store = PostgresCache(postgres_uri)
    store.clear()
    run = {"definition": one_step(cache=True, prompt=f"Say {uuid.uuid4().hex}")}
    one, two = await _twice(
        client, task_queue, worker_for, llmock, _settings(postgres_uri, tmp_path), run
    )
    assert _chat_requests(llmock) == 1
    assert two.steps["ask"].reason == "cached"
    assert two.outputs == one.outputs
    assert store.stats().entries == 1


async def test_each_entry_of_a_fallback_chain_has_its_own_key(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, cache_file: Path
) -> None:
    """The primary is down both times: the fallback's answer, stored under its own request,
    answers the second run; the primary is asked again (it never answered, so it has none)."""
    llmock.fail(503, times=None, provider="openai", message="the primary is down")
    llmock.reply("from claude", provider="anthropic")
    definition = one_step(
        cache=True,
        retry={"max_attempts": 1, "jitter": False},
        fallback=[{"provider": "anthropic", "model": "claude-3-5-haiku-latest"}],
    )
    one, two = await _twice(
        client,
        task_queue,
        worker_for,
        llmock,
        _settings(str(cache_file), cache_file.parent),
        {"definition": definition},
    )
    assert one.outputs == two.outputs == {"answer": "from claude"}
    assert [(r.provider, r.status) for r in llmock.requests] == [
        ("openai", 503),
        ("anthropic", 200),
        ("openai", 503),
    ]
    record = two.steps["ask"]
    assert record.reason == "cached"
    assert record.answered_by is not None and record.answered_by.provider == "anthropic"
    assert SqliteCache(cache_file).stats().entries == 1


async def test_an_agent_caches_each_turn_by_its_conversation(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, cache_file: Path
) -> None:
    """Both turns of an agent (a tool call, then the answer) come from the cache the second
    time: no model request, the tool still runs (its result is part of the conversation)."""
    from tests.interpreter.test_agent_servers import MODELS, _run

    llmock.tool_mode("off")
    llmock.call_tool("lookup-order", {"order": "A-1001"}, provider="openai")
    llmock.reply("Order A-1001 has shipped.", provider="openai")
    run = _run("openai", "Where is A-1001?")
    run["definition"]["steps"][0]["cache"] = True
    assert run["definition"]["steps"][0]["model"] == MODELS["openai"]
    one, two = await _twice(
        client, task_queue, worker_for, llmock, _settings(str(cache_file), cache_file.parent), run
    )
    assert _chat_requests(llmock) == 2  # the first run's two turns only
    assert one.outputs == two.outputs == {"answer": "Order A-1001 has shipped."}
    again = two.steps["support"]
    assert again.transcript is not None
    assert [t["usage"]["cached"] for t in again.transcript["turns"]] == [True, True]
    assert two.usage.input_tokens == 0
    assert again.transcript["turns"][0]["tool_calls"][0]["result"]["status"] == "shipped"
    assert SqliteCache(cache_file).stats().entries == 2
