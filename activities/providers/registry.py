"""Which provider answers a step, per worker; one shared instance (and HTTP pool) each."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from activities.providers.anthropic import AnthropicProvider
from activities.providers.base import ChatProvider, EmbeddingProvider
from activities.providers.config import WorkerConfig, load_worker_config, read_secret
from activities.providers.http import HttpEndpoint
from activities.providers.local_embedder import LocalEmbedder
from activities.providers.offline import OfflineProvider
from activities.providers.openai import OpenAIProvider
from interpreter.errors import StepError

__all__ = ["Providers"]

_log = logging.getLogger(__name__)

_HOSTED = ("api.openai.com", "api.anthropic.com", ".openai.azure.com")
"""Vendor-hosted APIs, which always need a key; any other base URL may do without one."""


def _hosted(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    return any(host == h or (h.startswith(".") and host.endswith(h)) for h in _HOSTED)


class Providers:
    """The worker's providers by name. ``offline=True`` routes every call to the offline one."""

    def __init__(
        self, config: WorkerConfig | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        self.config = config or load_worker_config(env=env)
        self._env = env
        self.offline = OfflineProvider()
        self.local = LocalEmbedder()
        self.endpoints: dict[str, HttpEndpoint] = {}
        self._vendors: dict[str, OpenAIProvider | AnthropicProvider] = {}

    def _vendor(self, step_id: str, name: str) -> OpenAIProvider | AnthropicProvider | None:
        if name in self._vendors:
            return self._vendors[name]
        settings = self.config.providers.get(name)
        if settings is None:
            return None
        key = None
        if settings.api_key_env:
            key = read_secret(settings.api_key_env, self.config, self._env)
            if not key and _hosted(settings.base_url):
                raise StepError(
                    step_id,
                    f"provider `{name}` needs an API key: set {settings.api_key_env} on the "
                    "worker (environment or secrets file)",
                )
            if not key:
                # OPENAI_BASE_URL pointing at a local OpenAI-compatible server, which
                # usually wants no key: a server that does will answer 401 with its reason
                _log.debug(
                    "provider `%s`: %s is not set, sending no key to %s",
                    name,
                    settings.api_key_env,
                    settings.base_url,
                )
        endpoint = HttpEndpoint(name, settings, key)
        vendor: OpenAIProvider | AnthropicProvider = (
            AnthropicProvider(endpoint)
            if settings.kind == "anthropic"
            else OpenAIProvider(endpoint)
        )
        self.endpoints[name] = endpoint
        self._vendors[name] = vendor
        return vendor

    def _unknown(self, step_id: str, kind: str, name: str) -> StepError:
        known = ", ".join(sorted({"offline", *self.config.providers}))
        return StepError(
            step_id,
            f"{kind} provider `{name}` is not configured on this worker (configured: {known}); "
            "add it to the worker config, or run with --offline",
        )

    def chat(self, step_id: str, name: str, *, offline: bool) -> ChatProvider:
        if offline or name == "offline":
            return self.offline
        vendor = self._vendor(step_id, name)
        if vendor is None:
            raise self._unknown(step_id, "LLM", name)
        return vendor

    def embedder(self, step_id: str, name: str, *, offline: bool) -> EmbeddingProvider:
        if name == "local":  # on the worker's CPU: no network, so --offline keeps it
            return self.local
        if offline or name == "offline":
            return self.offline
        vendor = self._vendor(step_id, name)
        if vendor is None:
            raise self._unknown(step_id, "embedding", name)
        if not isinstance(vendor, OpenAIProvider):
            raise StepError(step_id, f"provider `{name}` has no embeddings endpoint")
        return vendor

    async def aclose(self) -> None:
        for endpoint in self.endpoints.values():
            await endpoint.aclose()
