"""Held-out perplexity and bits per byte.

The held-out stream (EOS, then each held-out work followed by EOS) is cut into windows of
``context + 1`` tokens that overlap by one, so every token after the first is predicted exactly
once from the tokens before it in its window. Loss = mean negative log-likelihood in nats per
token; perplexity = exp(loss); bits per byte = total NLL / ln 2 / UTF-8 bytes of the text,
which compares models with different tokenizers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from bitnet_studio.train.data import eval_windows


@dataclass(frozen=True)
class EvalResult:
    tokens: int
    loss: float  # nats per token
    bits_per_byte: float

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)


def evaluate_stream(
    logits_fn: Callable[[torch.Tensor], torch.Tensor],
    stream: np.ndarray,
    context: int,
    n_bytes: float,
) -> EvalResult:
    """``logits_fn((n,) ids) -> (n, vocab)`` scored over ``stream``."""
    total, count = 0.0, 0
    for win in eval_windows(stream, context):
        ids = torch.from_numpy(win)
        logits = logits_fn(ids[:-1]).float()
        nll = torch.nn.functional.cross_entropy(logits, ids[1:], reduction="sum")
        total += float(nll)
        count += len(win) - 1
    return EvalResult(count, total / count, total / math.log(2) / n_bytes)


def evaluate_weights(weights, texts: list[str], context: int = 256) -> EvalResult:
    """Any model the engine loads (``ModelWeights``), scored by the float32 reference
    (``engine.torch_model``) on ``texts`` with the model's own tokenizer."""
    from bitnet_studio.engine.torch_model import TorchModel
    from bitnet_studio.models.tokenizer import Tokenizer

    tok = Tokenizer.for_model(weights)
    eos = weights.tokenizer.eos_token_ids[0] if weights.tokenizer.eos_token_ids else None
    sep = [] if eos is None else [eos]
    stream: list[int] = list(sep)
    for text in texts:
        stream += tok.encode(text, add_bos=False, special=False) + sep
    model = TorchModel(weights)

    @torch.no_grad()
    def logits(ids: torch.Tensor) -> torch.Tensor:
        model.reset()
        return model.forward(ids, all_logits=True)

    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    return evaluate_stream(logits, np.asarray(stream, np.int64), context, n_bytes)
