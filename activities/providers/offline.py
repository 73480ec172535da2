"""The offline provider: deterministic answers and embeddings with no network and no keys.

It is honest about what it is: replies start with ``[offline]`` unless the step
gives a ``mock_response``, and usage counts words, not a vendor's tokens. Runs
with ``--offline`` (or ``provider: offline``) use it for every model call.
"""

from __future__ import annotations

import hashlib
import json
import math
import re

from activities.providers.base import ChatReply, Embeddings
from interpreter.models import LlmStep

__all__ = ["OFFLINE_DIMENSIONS", "OfflineProvider", "hashed_embedding"]

OFFLINE_DIMENSIONS = 384
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def hashed_embedding(text: str, dimensions: int = OFFLINE_DIMENSIONS) -> list[float]:
    """A deterministic bag-of-words vector: each word hashed to a signed slot, L2-normalised."""
    vector = [0.0] * dimensions
    for word in _words(text):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        slot = int.from_bytes(digest[:4], "little") % dimensions
        vector[slot] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else vector


class OfflineProvider:
    """Chat and embeddings without a network."""

    name = "offline"

    async def complete(self, step: LlmStep) -> ChatReply:
        prompt = "\n".join(
            [step.system or "", *(m.content for m in step.messages), step.prompt or ""]
        )
        if step.mock_response is not None:
            mock = step.mock_response
            text = mock if isinstance(mock, str) else json.dumps(mock)
        else:
            last = next((line for line in reversed(prompt.splitlines()) if line.strip()), "")
            text = f"[offline {step.model}] {last.strip()[:200]}"
        words = text.split()
        if step.max_tokens is not None:
            text = " ".join(words[: step.max_tokens]) if len(words) > step.max_tokens else text
        return ChatReply(
            text=text,
            model=f"offline/{step.model}",
            input_tokens=len(prompt.split()),
            output_tokens=len(text.split()),
            finish_reason="stop",
            metadata={"provider": "offline"},
        )

    async def embed(self, texts: list[str], *, model: str, dimensions: int | None) -> Embeddings:
        size = dimensions or OFFLINE_DIMENSIONS
        return Embeddings(
            vectors=[hashed_embedding(t, size) for t in texts],
            model=f"offline/{model}",
            input_tokens=sum(len(t.split()) for t in texts),
        )
