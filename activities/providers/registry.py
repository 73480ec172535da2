"""Which provider answers a step, per worker; one shared instance (and HTTP pool) each."""

from __future__ import annotations

from activities.providers.base import ChatProvider, EmbeddingProvider
from activities.providers.offline import OfflineProvider
from interpreter.errors import StepError

__all__ = ["Providers"]


class Providers:
    """The worker's providers by name. ``offline=True`` routes every call to the offline one."""

    def __init__(self) -> None:
        self.offline = OfflineProvider()
        self._chat: dict[str, ChatProvider] = {"offline": self.offline}
        self._embed: dict[str, EmbeddingProvider] = {"offline": self.offline}

    def add_chat(self, provider: ChatProvider) -> None:
        self._chat[provider.name] = provider

    def add_embedder(self, provider: EmbeddingProvider) -> None:
        self._embed[provider.name] = provider

    def chat(self, step_id: str, name: str, *, offline: bool) -> ChatProvider:
        if offline:
            return self.offline
        provider = self._chat.get(name)
        if provider is None:
            raise StepError(
                step_id,
                f"LLM provider `{name}` is not configured on this worker (configured: "
                f"{', '.join(sorted(self._chat))}); run with --offline to use the offline provider",
            )
        return provider

    def embedder(self, step_id: str, name: str, *, offline: bool) -> EmbeddingProvider:
        if offline:
            return self.offline
        provider = self._embed.get(name)
        if provider is None:
            raise StepError(
                step_id,
                f"embedding provider `{name}` is not configured on this worker (configured: "
                f"{', '.join(sorted(self._embed))}); run with --offline to use the offline "
                "provider",
            )
        return provider
