"""The torch reference backend: float32, exact ternary integer parts, the judge of every other.

Numbers come from ``engine/torch_model.py``; this file is the ``Backend``/``Session`` shell
around it (threads, context limit, numpy in and out).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bitnet_studio.engine.torch_model import TorchModel
from bitnet_studio.errors import StudioError
from bitnet_studio.models.config import ModelConfig
from bitnet_studio.models.weights import ModelWeights


class TorchSession:
    """One model and its KV cache. Not thread-safe: one generation at a time."""

    def __init__(self, weights: ModelWeights, threads: int | None = None) -> None:
        self.threads = threads
        self._set_threads()
        self.model = TorchModel(weights)
        self.config: ModelConfig = weights.config
        self.source = weights.source
        self._closed = False

    def _set_threads(self) -> None:
        # torch's pool is per process: re-assert ours before each call, since another
        # session in the same process may have asked for a different count.
        if self.threads and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)

    def _check(self, n: int) -> None:
        if self._closed:
            raise RuntimeError("session is closed")
        limit = self.config.max_position
        if self.n_past + n > limit:
            raise StudioError(
                self.source,
                f"context full: {self.n_past} + {n} tokens > the model's {limit} positions",
            )

    def _tokens(self, tokens: Sequence[int]) -> torch.Tensor:
        ids = torch.as_tensor([int(t) for t in tokens], dtype=torch.int64)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.config.vocab_size):
            raise ValueError(f"token id out of range [0, {self.config.vocab_size})")
        return ids

    @property
    def n_past(self) -> int:
        return self.model.n_past

    @torch.inference_mode()
    def prefill(self, tokens: Sequence[int], all_logits: bool = True) -> np.ndarray:
        """Appends tokens (batched); returns float32 logits (len(tokens), vocab), or (1, vocab)
        for the last token only when ``all_logits`` is False."""
        ids = self._tokens(tokens)
        if ids.numel() == 0:
            raise ValueError("prefill needs at least one token")
        self._check(ids.numel())
        self._set_threads()
        return self.model.forward(ids, all_logits=all_logits).numpy()

    @torch.inference_mode()
    def decode(self, token: int) -> np.ndarray:
        """Appends one token; returns its float32 logits (vocab,)."""
        ids = self._tokens([token])
        self._check(1)
        self._set_threads()
        return self.model.forward(ids)[0].numpy()

    def first_nonfinite_layer(self) -> int | None:
        """The first layer whose output held NaN/Inf since the last reset (a diagnostic)."""
        return self.model.first_nonfinite_layer

    def reset(self) -> None:
        self.model.reset()

    def memory(self) -> dict[str, int]:
        """Bytes held by component: embeddings, attention, mlp, head, norms, kv_cache.

        Ternary codes are held as int8 (1 byte per weight, widened per call), dense weights
        as float32 whatever their file type: this is the reference, not a compact runtime.
        """
        return self.model.memory()

    def close(self) -> None:
        self._closed = True
        self.model.k_cache.clear()
        self.model.v_cache.clear()
        self.model.capacity = 0


class TorchBackend:
    name = "torch"

    def load(self, model: object, threads: int | None = None) -> TorchSession:
        if not isinstance(model, ModelWeights):
            raise TypeError("the torch backend loads a ModelWeights")
        return TorchSession(model, threads)
