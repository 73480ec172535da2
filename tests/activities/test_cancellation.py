"""Cancelling a run stops the calls its steps are waiting on, within a heartbeat interval."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import CancelledError

from activities import HEARTBEAT_SECONDS, ActivitySettings, WorkerConfig
from activities.providers.config import ProviderSettings, load_worker_config
from tests.conftest import EXAMPLES
from tests.helpers.runs import start_run

pytestmark = pytest.mark.asyncio(loop_scope="session")

KEY = "sk-test-" + "cancel0123456789" * 2
SLACK = 3.0
"""Seconds allowed on top of the heartbeat interval and the run's own ending (the
heartbeat's RPC, the SDK's task cancellation)."""


class SilentServer:
    """A loopback HTTP server that reads each request and never answers.

    It records when a request arrived and when its client closed the connection.
    """

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.closed = asyncio.Event()
        self.closed_at: float | None = None
        self.paths: list[str] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> SilentServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.paths.append(head.split(b" ", 2)[1].decode())
            self.arrived.set()
            while await reader.read(65536):  # the body, then nothing until the client leaves
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        self.closed_at = time.monotonic()
        self.closed.set()
        writer.close()


@pytest_asyncio.fixture(loop_scope="session")
async def silent() -> AsyncIterator[SilentServer]:
    async with SilentServer() as server:
        yield server


def openai_at(url: str) -> WorkerConfig:
    config = load_worker_config(env={})
    openai = ProviderSettings(
        kind="openai", base_url=f"{url}/v1", api_key_env="OPENAI_API_KEY", http2=False
    )
    return config.model_copy(update={"providers": {**config.providers, "openai": openai}})


async def cancel_while_waiting(
    client: Client, task_queue: str, step: dict[str, Any], silent: SilentServer
) -> tuple[float, float]:
    """Start a one-step run, cancel it once the server holds the request; return how long
    the request lived after the cancellation, and how long of that the run took to end.

    The second is Temporal's own latency on this machine now (the cancel request and a
    workflow task): on a busy machine it grows to seconds, and the heartbeat that carries
    the cancellation to the step can only come after it.
    """
    definition = {"name": "cancelled", "steps": [{"id": "wait", "timeout": "120s", **step}]}
    handle = await start_run(client, task_queue, {"definition": definition})
    await asyncio.wait_for(silent.arrived.wait(), timeout=60)
    cancelled_at = time.monotonic()
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await asyncio.wait_for(handle.result(), timeout=60)
    ended_at = time.monotonic()
    assert isinstance(failure.value.cause, CancelledError)
    await asyncio.wait_for(silent.closed.wait(), timeout=HEARTBEAT_SECONDS + 60)
    assert silent.closed_at is not None
    return silent.closed_at - cancelled_at, ended_at - cancelled_at


async def test_cancelling_a_run_stops_a_non_streamed_llm_call_within_the_heartbeat_interval(
    client: Client,
    task_queue: str,
    worker_for: Any,
    silent: SilentServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    step = {"type": "llm", "provider": "openai", "model": "gpt-4o-mini", "prompt": "think long"}
    async with worker_for(config=openai_at(silent.url)):
        lived, ending = await cancel_while_waiting(client, task_queue, step, silent)
    assert silent.paths == ["/v1/chat/completions"]
    assert lived < ending + HEARTBEAT_SECONDS + SLACK, (lived, ending)


async def test_cancelling_a_run_stops_a_running_http_action_within_the_heartbeat_interval(
    client: Client, task_queue: str, worker_for: Any, silent: SilentServer
) -> None:
    allow = frozenset({silent.url.removeprefix("http://")})  # 127.0.0.1:PORT
    settings = ActivitySettings(catalog_dir=EXAMPLES, http_allowed_hosts=allow)
    step = {"type": "action", "action": "http", "params": {"url": f"{silent.url}/hook"}}
    async with worker_for(settings=settings):
        lived, ending = await cancel_while_waiting(client, task_queue, step, silent)
    assert silent.paths == ["/hook"]
    assert lived < ending + HEARTBEAT_SECONDS + SLACK, (lived, ending)
