"""docker-compose.yml: every worker replica shares one step cache, the stack's PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from activities import ActivitySettings
from activities.cache import PostgresCache, open_cache
from tests.deploy.test_compose import SERVICES, depends, env


def test_workers_share_the_stacks_postgresql_as_their_step_cache() -> None:
    url = env("worker")["LLM_ORCHESTRATOR_CACHE"]
    database = env("postgresql")
    # the same credentials the database is created with, as the worker reads them
    assert url == (
        f"postgresql://{database['POSTGRES_USER']}:{database['POSTGRES_PASSWORD']}"
        "@postgresql:5432/postgres"
    )
    settings = ActivitySettings.from_env({"LLM_ORCHESTRATOR_CACHE": url})
    store = open_cache(settings.cache_url, Path("/unused"))
    assert isinstance(store, PostgresCache)
    assert store.where == "postgresql://temporal:***@postgresql:5432/postgres"
    # its database is up before any worker starts (through Temporal, which needs it too)
    assert "postgresql" in SERVICES and "temporal" in depends("worker")
    assert "postgresql" in depends("temporal-schema")
