"""Connecting to Temporal through the standard environment configuration."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence

from temporalio.client import Client, Interceptor
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime
from temporalio.service import RPCError

from llm_orchestrator.exits import SetupError
from llm_orchestrator.payload_store import data_converter

__all__ = ["address_configured", "connect"]


def address_configured() -> bool:
    """Has the user pointed us at a server (env var or a config-file profile)?"""
    if os.environ.get("TEMPORAL_ADDRESS"):
        return True
    try:
        profile = ClientConfig.load_client_connect_config(disable_env=True)
    except Exception:  # a broken config file is reported when we actually connect
        return True
    return bool(profile.get("target_host")) and profile.get("target_host") != "localhost:7233"


async def connect(
    address: str | None = None,
    *,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
    wait: float = 0.0,
) -> Client:
    """A client with our data converter, from ``temporalio.envconfig`` settings.

    TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS settings and
    TEMPORAL_PROFILE / the TOML config file all apply; ``address`` overrides them.
    ``runtime`` (metrics) and ``interceptors`` (tracing) come from
    ``llm_orchestrator.observability``; workers built on this client inherit both.
    ``wait`` keeps retrying an unreachable server that long (a worker started next to
    its server); then, or at once, the failure is a clear :class:`SetupError` (exit 3).
    Large payloads go to the payload store (``llm_orchestrator.payload_store``).
    """
    try:
        config = ClientConfig.load_client_connect_config()
    except Exception as exc:  # a malformed profile file or TLS setting: configuration, exit 3
        raise SetupError(f"Temporal client configuration: {exc}") from None
    if address:
        config["target_host"] = address
    config.setdefault("target_host", "localhost:7233")
    converter = data_converter()
    deadline = time.monotonic() + wait
    while True:
        try:
            return await Client.connect(
                **config,
                data_converter=converter,
                runtime=runtime,
                interceptors=list(interceptors),
            )
        except (RuntimeError, RPCError) as exc:
            if time.monotonic() >= deadline:
                reason = str(exc).split("ConnectError(", 1)[0].strip(" (")
                raise SetupError(
                    f"cannot connect to Temporal at {config['target_host']} ({reason}); start "
                    "one with `llm-orchestrator server`, or point TEMPORAL_ADDRESS or a "
                    "Temporal profile at your cluster"
                ) from None
            await asyncio.sleep(1.0)
