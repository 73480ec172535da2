"""The `llm` step: a chat/completion call to a language model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, Protocol

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from interpreter import defaults as code_defaults
from interpreter.budgets import Budgeted
from interpreter.caching import cache_use
from interpreter.contract import ACTIVITY_LLM, CacheUse
from interpreter.fields import (
    CacheField,
    Defaults,
    FallbackEntry,
    FallbackOn,
    JsonSchemaFormat,
    Message,
    as_list,
)
from interpreter.payload import Payload
from interpreter.steps._kind import (
    ActivityCall,
    ActivityChain,
    ActivityKind,
    RunFacts,
    Shape,
    StepBase,
    StepCall,
    fallback_chain,
    retry_of,
)

__all__ = ["KIND", "ChatStep", "LlmCall", "LlmRequest", "LlmStep", "ResponseSchema", "chat_model"]


def _format_kind(value: Any) -> str:
    return "schema" if isinstance(value, dict | JsonSchemaFormat) else "name"


ResponseFormat = Annotated[
    Annotated[Literal["text", "json"], Tag("name")] | Annotated[JsonSchemaFormat, Tag("schema")],
    Discriminator(_format_kind),
]
"""`text`, `json`, or a JSON Schema: told apart by shape, so an error names only the one
the user meant."""


class LlmStep(StepBase, Budgeted):
    """A chat/completion call to a language model."""

    type: Literal["llm"]
    provider: str | None = None
    model: str | None = None
    prompt: str | None = None
    system: str | None = None
    messages: list[Message] = Field(default_factory=list)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: list[str] = Field(default_factory=list)
    stream: bool = False
    response_format: ResponseFormat = "text"
    extra: dict[str, Any] = Field(default_factory=dict)
    mock_response: str | dict[str, Any] | list[Any] | None = Field(
        default=None, description="Answer used by the offline provider instead of a model."
    )
    fallback: list[FallbackEntry] | None = Field(
        default=None,
        description="Models to try, in order, when the ones before failed; `defaults.fallback` "
        "when not given (`[]`: none).",
    )
    fallback_on: FallbackOn | None = None
    repair_attempts: int | None = Field(
        default=None,
        ge=0,
        le=10,
        description="Turns spent asking the model to fix a reply that does not parse or match "
        "the schema (JSON response_format only).",
    )
    cache: CacheField | None = Field(
        default=None,
        description="Keep the answer across runs: `true`, or `{ttl, key}` (docs/cache.md).",
    )

    _split_stop = field_validator("stop", mode="before")(as_list)

    @model_validator(mode="after")
    def _needs_prompt(self) -> LlmStep:
        if self.prompt is None and not self.messages:
            raise ValueError("an `llm` step needs `prompt` or `messages`")
        return self


class ChatMessage(Payload):
    role: str
    content: str


class ResponseSchema(Payload):
    """Structured output: the reply must parse as JSON and match ``json_schema``."""

    type: Literal["json_schema"] = "json_schema"
    name: str = "output"
    json_schema: dict[str, Any]


class LlmCall(StepCall):
    """What the `llm` activity receives: templates rendered, defaults applied."""

    provider: str
    model: str
    prompt: str | None = None
    system: str | None = None
    messages: list[ChatMessage] = Field(default_factory=list)
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] = Field(default_factory=list)
    stream: bool = False
    response_format: Literal["text", "json"] | ResponseSchema = "text"
    extra: dict[str, Any] = Field(default_factory=dict)
    mock_response: str | dict[str, Any] | list[Any] | None = None
    repair_attempts: int = code_defaults.REPAIR_ATTEMPTS
    """Repair turns for a reply that does not parse or match ``response_format``."""
    cache: CacheUse | None = None


class LlmRequest(Payload):
    step: LlmCall
    offline: bool = False


class ChatStep(Protocol):
    """What a chat step says about who answers it."""

    @property
    def provider(self) -> str | None: ...

    @property
    def model(self) -> str | None: ...


def chat_model(step: ChatStep, defaults: Defaults) -> tuple[str, str]:
    """The provider and model a chat step (`llm`, `agent`) talks to: the step's, else the
    file's defaults, else the code's."""
    return (
        step.provider or defaults.provider or code_defaults.LLM_PROVIDER,
        step.model or defaults.model or code_defaults.LLM_MODEL,
    )


class _LlmKind(ActivityKind[LlmStep]):
    model = LlmStep
    templated = ("prompt", "system", "messages", "cache")
    shape: Shape = "task"
    metered = True
    free_keys_into = "extra"

    def summary(self, step: LlmStep, defaults: Defaults) -> str:
        provider = step.provider or defaults.provider or "default"
        return f"llm {provider}/{step.model or defaults.model or 'default'}"

    def call(self, step: LlmStep, rendered: Mapping[str, Any], run: RunFacts) -> ActivityCall:
        d = run.defaults
        fmt = step.response_format
        temperature = step.temperature if step.temperature is not None else d.temperature
        provider, model = chat_model(step, d)
        call = LlmCall.model_validate(
            {
                **step.model_dump(
                    exclude={
                        "response_format",
                        "messages",
                        "retry",
                        "fallback",
                        "fallback_on",
                        "budget",
                    }
                ),
                **rendered,
                "jitter": retry_of(step, run.defaults).jitter,
                "provider": provider,
                "model": model,
                "temperature": temperature,
                "max_tokens": step.max_tokens if step.max_tokens is not None else d.max_tokens,
                "repair_attempts": _first(
                    step.repair_attempts, d.repair_attempts, code_defaults.REPAIR_ATTEMPTS
                ),
                "response_format": (
                    ResponseSchema(name=fmt.name, json_schema=fmt.json_schema)
                    if isinstance(fmt, JsonSchemaFormat)
                    else fmt
                ),
                "cache": cache_use(step.cache, rendered.get("cache"), d, temperature=temperature),
            }
        )
        return ActivityCall(
            ACTIVITY_LLM,
            LlmRequest(step=call, offline=run.offline),
            # a stream heartbeats per chunk: one that stops sending tokens is dead even if
            # its connection stays open, but the first token may take a while
            heartbeat="per_chunk" if step.stream else "while_waiting",
            provider=call.provider,
            model=call.model,
        )

    def chain(self, step: LlmStep, rendered: Mapping[str, Any], run: RunFacts) -> ActivityChain:
        primary = self.call(step, rendered, run)
        request: LlmRequest = primary.payload
        d = run.defaults

        def payload_for(provider: str, model: str, jitter: bool) -> LlmRequest:
            update = {"provider": provider, "model": model, "jitter": jitter}
            return request.model_copy(update={"step": request.step.model_copy(update=update)})

        return fallback_chain(
            primary,
            step.fallback if step.fallback is not None else d.fallback or [],
            step.fallback_on or d.fallback_on or code_defaults.FALLBACK_ON,
            payload_for=payload_for,
            word="llm",
            retry=retry_of(step, d),
        )


def _first(*values: int | None) -> int:
    """The first value that is set (a step's, the file's, the code's)."""
    return next(v for v in values if v is not None)


KIND = _LlmKind()
