"""`worker` and `server`: the long-running processes of a deployment."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from llm_orchestrator.connect import connect
from llm_orchestrator.devserver import DevServer
from llm_orchestrator.exits import ExitCode
from llm_orchestrator.options import ServerOptions, WorkerOptions
from llm_orchestrator.process import observe
from llm_orchestrator.worker import GRACEFUL_SHUTDOWN, run_worker
from llm_orchestrator.worker_setup import activity_settings, worker_config

__all__ = ["server", "worker"]

log = logging.getLogger(__name__)


def worker(opts: WorkerOptions) -> int:
    """Serve `DagWorkflow` and the step activities until SIGINT/SIGTERM.

    The first signal stops polling and gives steps in flight
    :data:`~llm_orchestrator.worker.GRACEFUL_SHUTDOWN` to finish; a second one
    stops at once (exit 130).
    """
    settings = activity_settings(opts.catalog)
    config = worker_config(opts.config)
    obs = observe(opts.logs, "llm-orchestrator-worker")

    async def go() -> int:
        client = await connect(
            opts.connection,
            runtime=obs.runtime,
            interceptors=obs.interceptors,
            wait=opts.connect_timeout,
        )
        stop = asyncio.Event()
        main = asyncio.current_task()
        assert main is not None

        def on_signal() -> None:
            if stop.is_set():
                main.cancel()
                return
            log.info(
                "stopping: steps in flight get up to %g s to finish (signal again to stop now)",
                GRACEFUL_SHUTDOWN.total_seconds(),
            )
            stop.set()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        log.info(
            "worker on %s, task queue `%s`, catalog %s%s%s",
            client.service_client.config.target_host,
            opts.connection.task_queue,
            settings.catalog_dir,
            f", metrics on http://{obs.metrics_address}/metrics" if obs.metrics_address else "",
            ", tracing on" if obs.tracer_provider is not None else "",
        )
        await run_worker(
            client,
            settings,
            config=config,
            task_queue=opts.connection.task_queue,
            max_concurrent_activities=opts.max_concurrent_activities,
            max_cached_workflows=opts.max_cached_workflows,
            stop=stop,
        )
        return ExitCode.OK

    try:
        return asyncio.run(go())
    except asyncio.CancelledError:
        return ExitCode.INTERRUPTED
    finally:
        obs.shutdown()


def server(opts: ServerOptions) -> int:
    """Become the Temporal dev server process (so signals from a supervisor reach it)."""
    dev = DevServer(port=opts.port, ui_port=opts.ui_port, db_file=opts.db_file, tuned=opts.tuned)
    command = dev.command()
    print(
        f"Temporal dev server on 127.0.0.1:{opts.port}, Web UI http://127.0.0.1:{opts.ui_port}, "
        f"data {command[command.index('--db-filename') + 1]}",
        file=sys.stderr,
        flush=True,
    )
    os.execv(command[0], command)
