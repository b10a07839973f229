"""Token streams for training and evaluation.

The corpus is tokenized once (each work followed by EOS) into a uint16 stream per split.
A training batch is ``batch_size`` random windows of ``context + 1`` tokens whose starts come
from ``numpy.random.default_rng([seed, step])``: the same for both variants, and a resumed
run sees exactly the batches it would have seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Tokenizer

from bitnet_studio.train.corpus import split_works
from bitnet_studio.train.tokenizer import EOS, encode_works


@dataclass
class TokenData:
    train: np.ndarray  # uint16 token stream, EOS between works
    heldout: np.ndarray  # uint16, starting with EOS (so every work's first token is predicted)
    heldout_bytes: int  # UTF-8 bytes of the held-out works

    @classmethod
    def from_corpus(cls, tok: Tokenizer) -> TokenData:
        train = [w.text for w in split_works("train")]
        held = [w.text for w in split_works("heldout")]
        eos = tok.token_to_id(EOS)
        return cls(
            train=np.asarray(encode_works(tok, train), np.uint16),
            heldout=np.asarray([eos, *encode_works(tok, held)], np.uint16),
            heldout_bytes=sum(len(t.encode("utf-8")) for t in held),
        )

    def batch(self, seed: int, step: int, batch_size: int, context: int) -> torch.Tensor:
        """(batch_size, context + 1) int64 windows of the training stream."""
        rng = np.random.default_rng([seed, step])
        starts = rng.integers(0, len(self.train) - context - 1, size=batch_size)
        idx = starts[:, None] + np.arange(context + 1)[None, :]
        return torch.from_numpy(self.train[idx].astype(np.int64))


def eval_windows(stream: np.ndarray, context: int) -> list[np.ndarray]:
    """Windows of ``context + 1`` tokens overlapping by one: every token but the first is a
    target exactly once (the last window may be shorter)."""
    out = []
    for start in range(0, len(stream) - 1, context):
        out.append(stream[start : start + context + 1].astype(np.int64))
    return out
