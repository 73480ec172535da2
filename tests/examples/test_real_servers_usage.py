"""Streams without usage, against independent OpenAI/Anthropic-compatible servers.

llama.cpp's server ignores ``stream_options.include_usage``; the servers here are
projects we did not write that withhold usage in streams too: LLMock (PyPI, a dev
dependency) and aimock (npm ``@copilotkit/aimock``, a Node process) when usage is not
asked for (provider ``stream_usage: false``), and aimock's Anthropic stream, which
reports 0 tokens. Either way the step records an estimate, marked ``estimated``, and a
run ``budget`` stops the next model step.

aimock is found at ``$AIMOCK_CLI`` or in ``.ci/node`` (where ``.ci/run`` installs it);
without Node or that install its cases are skipped, saying so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError

from activities.providers.config import ProviderSettings, load_worker_config
from interpreter.contract import QUERY_PROGRESS, Progress
from tests.helpers.aimock import aimock_server
from tests.helpers.runs import start_run

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def aimock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    reply = "a reply from aimock, a server we did not write"
    with aimock_server(
        [{"match": {}, "response": {"content": reply}}], tmp_path_factory.mktemp("aimock")
    ) as url:
        yield url


def _config(base: str, provider: str) -> Any:
    config = load_worker_config(env={})
    settings = ProviderSettings(
        kind=provider,  # type: ignore[arg-type]
        base_url=f"{base}/v1" if provider == "openai" else base,
        http2=False,
        stream_usage=False,  # as llama.cpp behaves: no usage chunk in the stream
    )
    return config.model_copy(update={"providers": {**config.providers, provider: settings}})


@pytest.mark.parametrize(
    ("server", "provider"),
    [("llmock", "openai"), ("aimock", "openai"), ("aimock", "anthropic")],
)
async def test_a_budget_stops_streams_that_report_no_usage(
    client: Client,
    task_queue: str,
    worker_for: Any,
    request: pytest.FixtureRequest,
    server: str,
    provider: str,
) -> None:
    vendor = request.getfixturevalue(server)
    base = vendor.url if server == "llmock" else vendor
    if server == "llmock" and provider == "anthropic":
        base = f"{base}/anthropic"
    step = {
        "type": "llm",
        "provider": provider,
        "model": "gpt-4o-mini" if provider == "openai" else "claude-3-5-haiku-latest",
        "prompt": "Write one sentence about gardens.",
        "stream": True,
        "retry": {"max_attempts": 1},
    }
    definition = {
        "name": "budgeted-stream",
        "budget": {"max_tokens": 1},
        "steps": [{"id": "first", **step}, {"id": "second", "depends_on": ["first"], **step}],
    }
    async with worker_for(config=_config(base, provider)):
        handle = await start_run(client, task_queue, {"definition": definition})
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), timeout=60)
        progress = await handle.query(QUERY_PROGRESS, result_type=Progress)
    assert "budget exceeded before step `second`" in str(failed.value.cause)
    first = progress.steps["first"]
    assert first.status == "completed"
    assert first.usage is not None and first.usage.estimated
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
    assert first.usage.cost_usd > 0
    assert progress.steps["second"].status == "skipped"
