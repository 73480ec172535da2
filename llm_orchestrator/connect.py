"""Connecting to Temporal through the standard environment configuration."""

from __future__ import annotations

import os
from collections.abc import Sequence

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

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
) -> Client:
    """A client with the pydantic data converter, from ``temporalio.envconfig`` settings.

    TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS settings and
    TEMPORAL_PROFILE / the TOML config file all apply; ``address`` overrides them.
    ``runtime`` (metrics) and ``interceptors`` (tracing) come from
    ``llm_orchestrator.observability``; workers built on this client inherit both.
    """
    config = ClientConfig.load_client_connect_config()
    if address:
        config["target_host"] = address
    config.setdefault("target_host", "localhost:7233")
    return await Client.connect(
        **config,
        data_converter=pydantic_data_converter,
        runtime=runtime,
        interceptors=list(interceptors),
    )
