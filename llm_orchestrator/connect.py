"""Connecting to Temporal through the standard environment configuration.

One resolution serves both questions the CLI asks: *where do I connect* and *has
the user configured a server at all* (else `run` may start the embedded one).
It is ``temporalio.envconfig``'s: ``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
``TEMPORAL_API_KEY``, TLS variables, ``TEMPORAL_PROFILE`` and the TOML config
file (``TEMPORAL_CONFIG_FILE``), then the flags ``--profile``, ``--config-file``,
``--address`` and ``--namespace`` on top, as the Temporal CLI has them.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from pathlib import Path

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, Interceptor
from temporalio.envconfig import ClientConfig, ClientConnectConfig
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from llm_orchestrator.exits import SetupError
from llm_orchestrator.options import ConnectionOptions
from llm_orchestrator.payload_store import data_converter

__all__ = [
    "client_config",
    "connect",
    "server_configured",
    "untraced",
    "wait_until_serving",
]

_DEFAULT_HOST = "localhost:7233"
_EMBEDDED_HOSTS = (_DEFAULT_HOST, "127.0.0.1:7233")
"""Where the embedded dev server listens: a setting naming it configures nothing else."""


def client_config(connection: ConnectionOptions) -> ClientConnectConfig:
    """The keyword arguments of ``Client.connect``: envconfig, then the flags.

    An unknown profile or an unreadable config file is a :class:`SetupError` (exit 3)
    that names the profile, the file and the profiles it has.
    """
    profile = connection.profile or os.environ.get("TEMPORAL_PROFILE") or None
    try:
        config = ClientConfig.load_client_connect_config(
            profile=connection.profile, config_file=connection.config_file
        )
    except Exception as exc:  # the SDK's ConfigError is not public: any failure here is setup
        raise SetupError(_config_problem(str(exc), profile, connection.config_file)) from None
    if connection.address:
        config["target_host"] = connection.address
    if connection.namespace:
        config["namespace"] = connection.namespace
    return config


def _config_problem(reason: str, profile: str | None, config_file: str | None) -> str:
    file = config_file or os.environ.get("TEMPORAL_CONFIG_FILE")
    where = f"in {file}" if file else "in the Temporal config file"
    if profile and "not found" in reason.lower():
        known: list[str] = []
        if file and Path(file).is_file():
            try:
                known = sorted(ClientConfig.load(config_source=Path(file)).profiles)
            except Exception:  # the file itself is broken: say only what we know
                known = []
        listed = f" (profiles there: {', '.join(known)})" if known else ""
        return (
            f"Temporal profile `{profile}` not found {where}{listed}; pass --profile NAME "
            "or set TEMPORAL_PROFILE to one of them, or --config-file FILE"
        )
    return f"Temporal client configuration {where}: {reason}"


def server_configured(connection: ConnectionOptions) -> bool:
    """Has the user pointed us at a server? Decided from :func:`client_config`.

    Yes for ``--address``, a chosen profile (``--profile``, ``TEMPORAL_PROFILE``), or a
    resolved address, API key or TLS other than the embedded server's plain
    ``localhost:7233``. A profile that names no address still counts: `run` then
    connects to where that profile leads instead of starting a server of its own.
    """
    config = client_config(connection)
    if connection.address or connection.profile or os.environ.get("TEMPORAL_PROFILE"):
        return True
    host = config.get("target_host")
    if config.get("api_key") or config.get("tls"):
        return True
    return bool(host) and host not in _EMBEDDED_HOSTS


async def connect(
    connection: ConnectionOptions | str | None = None,
    *,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
    wait: float = 0.0,
    retry_every: float = 1.0,
) -> Client:
    """A client with our data converter, from :func:`client_config`.

    ``connection`` is the command's options (a plain string is an address alone).
    ``runtime`` (metrics) and ``interceptors`` (tracing) come from
    ``llm_orchestrator.observability``; workers built on this client inherit both.
    ``wait`` keeps retrying an unreachable server that long (a worker started next to
    its server), every ``retry_every`` seconds (short for a server this process has
    just started); then, or at once, the failure is a clear :class:`SetupError` (exit 3).
    Large payloads go to the payload store (``llm_orchestrator.payload_store``).
    """
    if not isinstance(connection, ConnectionOptions):
        connection = ConnectionOptions(address=connection)
    config = client_config(connection)
    config.setdefault("target_host", _DEFAULT_HOST)
    converter = data_converter()
    deadline = time.monotonic() + wait
    while True:
        try:
            client = await Client.connect(
                **config,
                data_converter=converter,
                runtime=runtime,
                interceptors=list(interceptors),
            )
            missing = await _missing_namespace(client)
            if missing is None:
                return client
            if time.monotonic() >= deadline:  # a fresh server may still be registering it
                raise SetupError(missing)
            await asyncio.sleep(retry_every)
        except (RuntimeError, RPCError) as exc:
            if time.monotonic() >= deadline:
                reason = str(exc).split("ConnectError(", 1)[0].strip(" (")
                raise SetupError(
                    f"cannot connect to Temporal at {config['target_host']} ({reason}); start "
                    "one with `llm-orchestrator server`, or point TEMPORAL_ADDRESS, "
                    "--profile or TEMPORAL_PROFILE at your cluster"
                ) from None
            await asyncio.sleep(retry_every)


async def _missing_namespace(client: Client) -> str | None:
    """Why the namespace cannot be used (``None``: it can): said now, not as a worker's
    traceback later."""
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=client.namespace)
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return (
                f"Temporal at {client.service_client.config.target_host} has no namespace "
                f"`{client.namespace}`; create it (`temporal operator namespace create "
                f"{client.namespace}`) or pass --namespace / set TEMPORAL_NAMESPACE"
            )
        # anything else (e.g. a key that may not describe namespaces): the real call will say
    return None


def untraced(client: Client) -> Client:
    """The same connection without interceptors, for the CLI's own polling: traced, each
    0.25 s ``progress`` query of `run` became a trace of its own (345 of 363 traces in a
    receiver), burying the run's one trace."""
    config = client.config()
    config["interceptors"] = []
    return Client(**config)


async def wait_until_serving(
    client: Client, *, timeout: float = 60.0, retry_every: float = 0.02
) -> None:
    """Wait until a server that just started is healthy and serves our namespace.

    An open port is not enough: a loaded machine's fresh dev server answers
    "Frontend is not healthy yet" for a while after it listens.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if await client.service_client.check_health():
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=client.namespace)
                )
                return
            reason = "not serving"
        except RPCError as exc:
            reason = exc.message
        if time.monotonic() >= deadline:
            raise SetupError(
                f"the Temporal server at {client.service_client.config.target_host} did not "
                f"become healthy in {timeout:g} s ({reason})"
            )
        await asyncio.sleep(retry_every)
