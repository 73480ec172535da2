"""`record` and `test`: the command-line side of cassettes (docs/testing.md)."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

from temporalio.client import Client, WorkflowFailureError

from activities import ActivitySettings, WorkerActivities
from interpreter.contract import WORKFLOW_TYPE, RunResult
from interpreter.errors import OrchestratorError
from llm_orchestrator.cassette.format import CassetteError, Source, load, save
from llm_orchestrator.cassette.record import record_run
from llm_orchestrator.cassette.replay import CassettePlayer, CassetteReport, request_for
from llm_orchestrator.connect import connect, server_configured, wait_until_serving
from llm_orchestrator.devserver import DevServer, port_open, state_dir
from llm_orchestrator.exits import ExitCode
from llm_orchestrator.options import ConnectionOptions, RecordOptions, TestOptions
from llm_orchestrator.request import names_a_file
from llm_orchestrator.worker import build_worker
from llm_orchestrator.worker_setup import activity_settings, worker_config

__all__ = ["cassette_files", "record", "test"]


def record(opts: RecordOptions) -> int:
    """Write the cassette of a finished run."""
    source: Source | None = None
    if opts.workflow is not None:
        if names_a_file(opts.workflow):
            file = Path(opts.workflow).resolve()
            if not file.is_file():
                raise CassetteError(f"--workflow {opts.workflow}: no such file")
            base = opts.output.resolve().parent
            source = Source(file=os.path.relpath(file, base))
        else:
            source = Source(catalog=opts.workflow)

    async def go() -> int:
        client = await connect(opts.connection)
        cassette = await record_run(client, opts.workflow_id, opts.run_id, source=source)
        save(cassette, opts.output)
        where = cassette.source.file or cassette.source.catalog
        print(
            f"recorded {opts.workflow_id} → {opts.output}: {len(cassette.calls)} calls, "
            f"run {cassette.expect.status}"
            + (f"; `test` checks {where}" if where else "; `test` replays the pinned definition")
        )
        return ExitCode.OK

    return asyncio.run(go())


def cassette_files(paths: tuple[Path, ...]) -> Iterator[Path]:
    """The cassette files named: files as given, directories' ``*.json`` (recursively)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(path.rglob("*.json"))
        else:
            yield path


def test(opts: TestOptions) -> int:
    """Replay (or re-record) every cassette; a summary per cassette, exit 1 on any failure."""
    files = list(cassette_files(opts.paths))
    if not files:
        shown = " ".join(map(str, opts.paths))
        raise CassetteError(f"no cassettes in {shown}; write one with `llm-orchestrator record`")
    settings = activity_settings(opts.catalog, require_catalog=False)
    # a mismatch fails its step on purpose: one line in the report, not an SDK traceback
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    logging.getLogger("temporalio.worker").setLevel(logging.ERROR)

    async def go() -> list[CassetteReport]:
        async with _client(opts.connection) as client:
            if opts.update:
                return [await _update(client, path, opts, settings) for path in files]
            async with CassettePlayer.running(client, settings=settings) as player:
                reports = []
                for path in files:
                    report = await player.check(path, timeout=opts.timeout)
                    print(report.text(), flush=True)
                    reports.append(report)
                return reports

    reports = asyncio.run(go())
    failed = sum(not r.passed for r in reports)
    verb = "re-recorded" if opts.update else "passed"
    print(f"{len(reports) - failed} {verb}, {failed} failed")
    return ExitCode.FAILED if failed else ExitCode.OK


@asynccontextmanager
async def _client(connection: ConnectionOptions) -> AsyncIterator[Client]:
    """A client of the configured server, else of the embedded one (started here if
    nothing listens on 127.0.0.1:7233, and stopped at the end), as `run` does."""
    server: DevServer | None = None
    if not server_configured(connection) and not port_open("127.0.0.1", 7233):
        log = state_dir() / "temporal-server.log"
        state_dir().mkdir(parents=True, exist_ok=True)
        server = DevServer().start(log=log)
        connection = replace(connection, address=server.address)
    try:
        client = await connect(connection, wait=30.0 if server else 0.0, retry_every=0.02)
        if server is not None:
            await wait_until_serving(client)
        yield client
    finally:
        if server is not None:
            server.stop()


async def _update(
    client: Client, path: Path, opts: TestOptions, settings: ActivitySettings
) -> CassetteReport:
    """Run the cassette's workflow for real and rewrite the cassette from that run."""
    report = CassetteReport(path)
    try:
        cassette = load(path)
        request = request_for(cassette, path, settings)
    except OrchestratorError as exc:  # a cassette or workflow file that cannot be used
        report.problems.append(str(exc))
        print(report.text(), flush=True)
        return report
    task_queue = f"record-{uuid.uuid4().hex[:12]}"
    activities = WorkerActivities(settings, worker_config(opts.config))
    workflow_id = f"record-{path.stem}-{uuid.uuid4().hex[:8]}"
    try:
        async with build_worker(client, activities, task_queue=task_queue):
            handle = await client.start_workflow(
                WORKFLOW_TYPE, request, id=workflow_id, task_queue=task_queue,
                result_type=RunResult,
            )  # fmt: skip
            try:
                await asyncio.wait_for(handle.result(), opts.timeout)
            except WorkflowFailureError as exc:
                if cassette.expect.status == "completed":
                    report.problems.append(f"not rewritten: the run failed: {exc.cause}")
    finally:
        await activities.aclose()
    if not report.problems:
        fresh = await record_run(client, workflow_id, source=cassette.source)
        save(fresh, path)
        print(f"UPDATED {path}: {len(fresh.calls)} calls, run {fresh.expect.status}", flush=True)
    else:
        print(report.text(), flush=True)
    return report
