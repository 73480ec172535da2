"""Point a worker's `openai` and `anthropic` providers at a loopback server, with test keys.

The server is either LLMock (an independent project, used wherever it can
express what a test needs) or the hand-written :class:`tests.fakes.vendors.FakeVendor`
(for what LLMock cannot do; its docstring says what). Both answer
``base_url(provider)`` with the URL a client of that vendor is configured with.
"""

from __future__ import annotations

from typing import Any, Protocol

from activities import WorkerConfig
from activities.providers.config import ProviderSettings, load_worker_config

__all__ = ["ANTHROPIC_KEY", "CHAT", "MESSAGES", "OPENAI_KEY", "Vendor", "config_for", "one_step"]

# long and key-shaped, so a leak of the whole key or of a prefix is caught
OPENAI_KEY = "sk-test-" + "A1b2C3d4E5f6G7h8I9j0" * 2
ANTHROPIC_KEY = "sk-ant-test-" + "Z9y8X7w6V5u4T3s2R1q0" * 2

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
"""Request paths of the hand-written fake (LLMock serves Anthropic under ``/anthropic``)."""


class Vendor(Protocol):
    def base_url(self, provider: str) -> str: ...


def config_for(vendor: Vendor, **overrides: Any) -> WorkerConfig:
    """The built-in config with `openai` and `anthropic` on ``vendor`` (HTTP/1.1, env keys).

    ``overrides`` are :class:`ProviderSettings` fields for both, e.g. breaker settings.
    """
    config = load_worker_config(env={})
    providers = dict(config.providers)
    for kind, key_env in (("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")):
        providers[kind] = ProviderSettings(
            kind=kind,  # type: ignore[arg-type]
            base_url=vendor.base_url(kind),
            api_key_env=key_env,
            http2=False,
            **overrides,
        )
    return config.model_copy(update={"providers": providers})


def one_step(provider: str = "openai", **step: Any) -> dict[str, Any]:
    """A one-step definition: an `llm` step `ask` on ``provider``, its text as output `answer`.

    Retries fast (3 attempts, 100 ms apart, no jitter) unless ``step`` says otherwise.
    """
    llm = {
        "id": "ask",
        "type": "llm",
        "provider": provider,
        "model": "gpt-4o-mini" if provider == "openai" else "claude-3-5-haiku-latest",
        "prompt": "Say something",
        "retry": {"max_attempts": 3, "initial_interval": "100ms", "jitter": False},
        **step,
    }
    return {"name": "one-step", "steps": [llm], "outputs": {"answer": "{{ steps.ask.output }}"}}
