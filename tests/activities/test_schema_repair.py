"""Schema repair: a JSON reply that does not parse or match the schema goes back to the model
with its validation errors, inside the one `llm` activity, before the step fails for good.

Against LLMock (an independent OpenAI/Anthropic-compatible server): we read the requests it
received to see what the repair turn carried.
"""

from __future__ import annotations

from typing import Any

import pytest
from llmock.pytest_plugin import LLMock
from temporalio.client import Client

from activities.model_steps import _json_path
from tests.helpers.providers import config_for
from tests.helpers.runs import run_to_end

pytestmark = pytest.mark.usefixtures("keys")

SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "maximum": 10},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["score", "label"],
}
PROMPT = "Score this review from 0 to 10. " + "It was a long and winding review. " * 60


def scored(provider: str = "openai", **step: Any) -> dict[str, Any]:
    return {
        "name": "repair",
        "defaults": step.pop("defaults", {}),
        "steps": [
            {
                "id": "score",
                "type": "llm",
                "provider": provider,
                "model": "gpt-4o-mini" if provider == "openai" else "claude-3-5-haiku-latest",
                "prompt": PROMPT,
                "response_format": {"name": "score", "schema": SCHEMA},
                "retry": {"max_attempts": 3, "initial_interval": "50ms", "jitter": False},
                **step,
            }
        ],
    }


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_the_repair_turn_carries_the_errors_and_the_second_reply_is_accepted(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock, provider: str
) -> None:
    bad = '{"score": 11, "tags": ["ok", 3]}'
    llmock.reply(bad).reply('{"score": 7, "label": "fine"}')
    async with worker_for(config=config_for(llmock)):
        result = await run_to_end(client, task_queue, {"definition": scored(provider)})
        llmock.reply('{"score": 7, "label": "fine"}')  # the same step, answered at once
        plain = await run_to_end(client, task_queue, {"definition": scored(provider)})

    record = result.steps["score"]
    assert record.output == {"score": 7, "label": "fine"}
    assert (record.status, record.attempts, record.repairs) == ("completed", 1, 1)
    first, repair, _ = llmock.requests
    assert first.body["messages"][-1]["content"] == PROMPT
    *kept, answer, ask = repair.body["messages"]
    assert kept[-1]["content"] == PROMPT  # the conversation so far, then the bad reply
    assert answer == {"role": "assistant", "content": bad}
    assert ask["role"] == "user"
    # every schema error, with JSON paths, in the order of their paths
    assert "- `$`: 'label' is a required property\n" in ask["content"]
    assert "- `$.score`: 11 is greater than the maximum of 10\n" in ask["content"]
    assert "- `$.tags[1]`: 3 is not of type 'string'\n" in ask["content"]
    # the repair's tokens count: the sum of two calls, each with the long prompt
    assert record.usage is not None and plain.steps["score"].usage is not None
    assert record.usage.input_tokens >= 2 * plain.steps["score"].usage.input_tokens
    assert record.usage.output_tokens > plain.steps["score"].usage.output_tokens
    assert plain.steps["score"].repairs == 0


@pytest.mark.asyncio(loop_scope="session")
async def test_invalid_json_forever_fails_after_the_repairs_quoting_the_last_reply(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock
) -> None:
    llmock.reply("Sure, here it is: {score: high", times=None)
    async with worker_for(config=config_for(llmock)):
        result = await run_to_end(
            client, task_queue, {"definition": scored(continue_on_error=True)}
        )
    record = result.steps["score"]
    assert record.status == "failed"
    assert record.attempts == 1  # non-retryable: the step's retry policy does not repeat it
    assert len(llmock.requests) == 3  # the first reply and the default 2 repairs
    assert record.error is not None
    assert "still not the JSON asked for after 2 repair turns" in record.error
    assert "the reply is not valid JSON: Expecting value at line 1 column 1" in record.error
    assert "last reply: 'Sure, here it is: {score: high'" in record.error
    assert "[InvalidModelOutput]" in record.error
    # the three exchanges were paid for: the failed step's usage, and the run's, say so
    assert record.usage is not None and record.usage.input_tokens > 3 * len(PROMPT) // 8
    assert result.usage == record.usage


@pytest.mark.asyncio(loop_scope="session")
async def test_defaults_repair_attempts_zero_fails_on_the_first_bad_reply(
    client: Client, task_queue: str, worker_for: Any, llmock: LLMock
) -> None:
    llmock.reply('{"score": 99, "label": "x"}', times=None)
    definition = scored(continue_on_error=True, defaults={"repair_attempts": 0})
    async with worker_for(config=config_for(llmock)):
        result = await run_to_end(client, task_queue, {"definition": definition})
    error = result.steps["score"].error or ""
    assert "`$.score`: 99 is greater than the maximum of 10" in error
    assert "repair" not in error
    assert len(llmock.requests) == 1


def test_json_paths_read_like_jsonpath() -> None:
    assert _json_path([]) == "$"
    assert _json_path(["a", "b", 0, "c"]) == "$.a.b[0].c"
    assert _json_path(["odd key", 2]) == '$["odd key"][2]'
