"""The one interface every backend implements (torch reference, native C++, llama.cpp)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from bitnet_studio.models.config import ModelConfig


class Session(Protocol):
    """A loaded model with its own KV cache. Not thread-safe: one generation at a time."""

    config: ModelConfig

    def prefill(self, tokens: Sequence[int]) -> np.ndarray:
        """Appends tokens to the context; returns float32 logits (len(tokens), vocab).

        A backend that computes no logits but the last (llama.cpp) returns shape (1, vocab):
        callers that only need the next token use ``logits[-1]``.
        """
        ...

    def decode(self, token: int) -> np.ndarray:
        """Appends one token; returns its float32 logits (vocab,)."""
        ...

    def reset(self) -> None:
        """Empties the KV cache (a new conversation)."""
        ...

    @property
    def n_past(self) -> int:
        """Tokens in the KV cache."""
        ...

    def memory(self) -> dict[str, int]:
        """Bytes by component: weights by kind, embeddings, head, kv_cache, scratch."""
        ...

    def close(self) -> None: ...


class Backend(Protocol):
    name: str

    def load(self, model: object, threads: int | None = None) -> Session:
        """``model`` is a ModelWeights (or, for llama.cpp, anything with a GGUF ``source``)."""
        ...
