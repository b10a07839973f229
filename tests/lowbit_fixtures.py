"""Shared by the 1-bit / Qwen3 tests: tiny models, greedy lock-step runs, the native switch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bitnet_studio.formats import load_model, write_gguf
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.models.weights import ModelWeights

# The native backend runs Q1_0 (BinaryTensor) linears with its 1-bit kernels.
NATIVE_BINARY_READY = True
native_binary = pytest.mark.skipif(
    not NATIVE_BINARY_READY, reason="the native backend has no 1-bit linears"
)

WIDE = dict(hidden_size=256, intermediate_size=512, n_heads=4, n_kv_heads=2, head_dim=64)
PROMPT = [5, 17, 33, 2, 99, 150, 7]


def lowbit_file(tmp: Path, arch: str, dtype: str, seed: int, tie: bool = False) -> ModelWeights:
    """A random ``arch`` model written as ``dtype`` GGUF and read back (source = the file)."""
    cfg = tiny_config(arch, **WIDE, tie_word_embeddings=tie)  # type: ignore[arg-type]
    path = tmp / f"{arch}-{dtype}-{seed}.gguf"
    write_gguf(random_model(cfg, seed=seed), path, dtype)  # type: ignore[arg-type]
    return load_model(path)


def lock_step(sessions: list[Any], steps: int) -> tuple[list[list[int]], list[np.ndarray]]:
    """Greedy decoding, every session fed the first session's token: per session, its argmax
    at each step, and each step's logits (so a divergence shows where, not only that)."""
    logits = [np.asarray(s.prefill(PROMPT)) for s in sessions]
    logits = [lg[-1] if lg.ndim == 2 else lg for lg in logits]
    picks: list[list[int]] = [[] for _ in sessions]
    history: list[np.ndarray] = []
    for _ in range(steps):
        history.append(np.stack(logits))
        for i, lg in enumerate(logits):
            picks[i].append(int(np.argmax(lg)))
        tok = picks[0][-1]
        logits = [np.asarray(s.decode(tok)) for s in sessions]
    return picks, history


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    """Max |a - b| over the reference's largest |logit|."""
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))
