"""Token counts the worker estimates when a provider reports none.

llama.cpp's server, for one, ignores ``stream_options.include_usage`` and ends a
stream without a usage chunk. Recording 0 tokens and $0 would let such steps slip
past a run's ``budget``, so the step records an estimate instead and marks its
usage ``estimated``.

The estimate is characters / 4, rounded up: OpenAI's documented rule of thumb for
English text. A real tokenizer is not used because tokenizers are model-specific
(a llama.cpp server may run any vocabulary) and ``tiktoken`` downloads its
encodings on first use, which a worker without internet cannot do; an estimate
that is the same everywhere and says it is one beats a precise count for the
wrong model.
"""

from __future__ import annotations

import math

from interpreter.conversation import AgentTurnCall
from interpreter.steps.llm import LlmCall

__all__ = ["CHARS_PER_TOKEN", "conversation_text", "estimate_tokens", "prompt_text"]

CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """About how many tokens ``text`` is (never 0 for non-empty text)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def prompt_text(step: LlmCall) -> str:
    """Everything of the step that the model reads: system, messages, prompt."""
    return (step.system or "") + "".join(m.content for m in step.messages) + (step.prompt or "")


def conversation_text(call: AgentTurnCall) -> str:
    """Everything of an agent turn that the model reads: system, messages, tool calls."""
    parts = [call.system or ""]
    for message in call.messages:
        parts.append(message.content)
        parts += [c.name + c.arguments for c in message.tool_calls]
    return "".join(parts)
