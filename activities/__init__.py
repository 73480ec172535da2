"""Step implementations run by workers: every side effect of a run happens here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from activities._heartbeat import HEARTBEAT_SECONDS
from activities.action import ActionActivities
from activities.agent_turn import AgentTurnActivities
from activities.cache import StepCacheUse, open_cache
from activities.catalog import Catalog
from activities.mcp import McpActivities, McpPool
from activities.model_steps import ModelActivities
from activities.providers import Providers
from activities.providers.config import WorkerConfig
from activities.settings import ActivitySettings, state_dir
from activities.transform import run_transform
from activities.vectorstores import Stores

__all__ = [
    "HEARTBEAT_SECONDS",
    "ActivitySettings",
    "WorkerActivities",
    "WorkerConfig",
]


class WorkerActivities:
    """Every activity a worker registers, with the shared clients they use."""

    def __init__(self, settings: ActivitySettings, config: WorkerConfig | None = None) -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(30.0), follow_redirects=False)
        self.providers = Providers(config, env=settings.env)
        self.stores = Stores(
            vectors_dir=settings.vectors_dir,
            docs_dir=settings.docs_dir,
            uris=settings.vector_stores,
            env=settings.env,
        )
        self._catalog = Catalog(settings)
        self._actions = ActionActivities(settings, self.http)
        self.step_cache = open_cache(settings.cache_url, state_dir(settings.env))
        cache_use = StepCacheUse(self.step_cache)
        self._models = ModelActivities(self.providers, self.stores, cache_use)
        self._agent = AgentTurnActivities(self.providers, cache_use)
        self.mcp = McpPool(config.mcp_servers if config else {}, config=config, env=settings.env)
        self._mcp = McpActivities(self.mcp)

    def all(self) -> list[Callable[..., Any]]:
        return [
            self._catalog.resolve,
            run_transform,
            self._actions.run,
            self._models.llm,
            self._agent.turn,
            self._models.embed,
            self._models.vector_search,
            self._mcp.call,
            self._mcp.list_tools,
        ]

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.providers.aclose()
        await self.stores.aclose()
        await self.mcp.aclose()
