"""The llama.cpp peer backend, through llama-cpp-python, for any GGUF file.

llama-cpp-python is built by scripts/env.sh with ggml's AMX path off: with AMX on, Q4/Q8
weights crash in ggml's AMX matmul on CPUs that have it (llama.cpp issue #20824).
Its activations are quantized per 32/256-element block (Q8_0/Q8_K), not per token as
BitNet trains, so its ternary output differs slightly from our reference by design.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bitnet_studio.errors import StudioError
from bitnet_studio.models.config import ModelConfig


def _gguf_path(model: Any) -> Path:
    src = getattr(model, "source", model)
    if src is None:
        raise StudioError(None, "the llama.cpp backend needs a model loaded from a GGUF file")
    path = Path(src)
    if path.suffix.lower() != ".gguf" or not path.is_file():
        raise StudioError(path, "the llama.cpp backend runs GGUF files only")
    return path


class LlamaCppSession:
    """One llama.cpp context: its own KV cache, logits of the last evaluated token."""

    def __init__(
        self,
        path: Path,
        config: ModelConfig | None,
        threads: int,
        n_ctx: int,
        logits_all: bool = False,
    ) -> None:
        try:
            import llama_cpp
        except ImportError as e:  # pragma: no cover - the test env always has it
            raise StudioError(path, f"llama-cpp-python is not installed ({e})") from None
        self._llama_cpp = llama_cpp
        try:
            self._llm = llama_cpp.Llama(
                str(path),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                n_batch=min(512, n_ctx),
                logits_all=logits_all,
                verbose=False,
            )
        except (ValueError, RuntimeError) as e:
            raise StudioError(path, f"llama.cpp could not load this file: {e}") from None
        self.path = path
        self.config = config
        self.threads = threads
        self.n_ctx = n_ctx
        self.logits_all = logits_all

    @property
    def n_past(self) -> int:
        return int(self._llm.n_tokens)

    def _check_room(self, n: int) -> None:
        if self.n_past + n > self.n_ctx:
            raise StudioError(self.path, f"context full: {self.n_past} + {n} tokens > {self.n_ctx}")

    def _last_logits(self) -> np.ndarray:
        ptr = self._llama_cpp.llama_get_logits_ith(self._llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self._llm.n_vocab(),)).astype(np.float32)

    def prefill(self, tokens: Sequence[int], all_logits: bool = False) -> np.ndarray:
        """Evaluates the tokens; returns the last token's logits as shape (1, vocab), or
        every token's (len(tokens), vocab) with ``all_logits`` (a session opened with
        ``logits_all``: llama.cpp's own scores)."""
        toks = [int(t) for t in tokens]
        if not toks:
            raise ValueError("prefill needs at least one token")
        if all_logits and not self.logits_all:
            raise ValueError("this llama.cpp session keeps only the last logits (logits_all)")
        self._check_room(len(toks))
        start = self.n_past
        self._llm.eval(toks)
        if all_logits:
            return np.array(self._llm.scores[start : start + len(toks)], dtype=np.float32)
        return self._last_logits()[None, :]

    def decode(self, token: int) -> np.ndarray:
        self._check_room(1)
        self._llm.eval([int(token)])
        return self._last_logits()

    def reset(self) -> None:
        # eval() drops cache entries past n_tokens before it writes, so this is enough.
        self._llm.reset()

    def tokenize(self, text: str, add_bos: bool = False, special: bool = True) -> list[int]:
        """llama.cpp's own tokenizer (the judge for ours in parity tests)."""
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special))

    def memory(self) -> dict[str, int]:
        weights = int(self._llama_cpp.llama_model_size(self._llm.model))
        # The context's serialised state: KV cache plus logits and bookkeeping.
        state = int(self._llama_cpp.llama_state_get_size(self._llm.ctx))
        return {"weights": weights, "kv_cache": state}

    def close(self) -> None:
        self._llm.close()


class LlamaCppBackend:
    name = "llamacpp"

    def __init__(self, n_ctx: int = 2048, logits_all: bool = False) -> None:
        self.n_ctx = n_ctx
        self.logits_all = logits_all  # keep every position's logits (evaluation)

    def load(self, model: Any, threads: int | None = None) -> LlamaCppSession:
        path = _gguf_path(model)
        config = getattr(model, "config", None)
        n_ctx = min(self.n_ctx, config.max_position) if config else self.n_ctx
        n_threads = threads or os.cpu_count() or 1
        return LlamaCppSession(path, config, n_threads, n_ctx, self.logits_all)
