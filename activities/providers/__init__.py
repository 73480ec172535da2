"""Model providers: the Protocols, the offline provider, and the per-worker registry."""

from activities.providers.base import (
    ChatProvider,
    ChatReply,
    EmbeddingProvider,
    Embeddings,
)
from activities.providers.offline import OfflineProvider, hashed_embedding
from activities.providers.registry import Providers

__all__ = [
    "ChatProvider",
    "ChatReply",
    "EmbeddingProvider",
    "Embeddings",
    "OfflineProvider",
    "Providers",
    "hashed_embedding",
]
