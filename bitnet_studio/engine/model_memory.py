"""What one loaded model holds in memory: weights, KV cache at its current context, scratch.

The process's RSS is the sum over every model plus Python, Qt and the libraries: two panes
showing it show the same number. This module answers per model, from the session's own
``memory()`` (bytes by component) and, for weights that are a memory-mapped file, how much
of that file is resident now (``/proc/self/smaps`` on Linux; unknown elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Components of Session.memory() that are not weights.
_NOT_WEIGHTS = ("kv_cache", "scratch")
# Bytes per cached key or value element where the session does not say: the torch
# reference keeps float32, llama.cpp's default cache type is f16.
_KV_ELEMENT_BYTES = {"torch": 4, "llamacpp": 2}


@dataclass(frozen=True)
class ModelMemory:
    """One model's memory, in bytes."""

    weights: int  # weights as the backend holds them (packed, mapped or copied)
    mapped_resident: int | None  # of the weights' file mapping, the part in RAM (None: none)
    kv_per_token: float  # KV cache bytes per cached token
    kv_capacity: int  # KV cache allocated (native: all of n_ctx up front), 0 if it grows
    n_ctx: int
    scratch: int  # the backend's work buffers

    def kv_at(self, tokens: int) -> int:
        """KV cache bytes that ``tokens`` cached tokens fill."""
        return round(self.kv_per_token * max(0, min(tokens, self.n_ctx)))

    def total_at(self, tokens: int) -> int:
        """Weights + KV cache of ``tokens`` + scratch."""
        return self.weights + self.kv_at(tokens) + self.scratch

    def describe(self, tokens: int) -> str:
        """One line for a pane: what this model holds with ``tokens`` in its context."""
        mb = 1e6
        mapped = (
            f" ({self.mapped_resident / mb:,.0f} MB of its file resident)"
            if self.mapped_resident is not None
            else ""
        )
        return (
            f"model memory {self.total_at(tokens) / mb:,.1f} MB: weights "
            f"{self.weights / mb:,.1f} MB{mapped} · KV cache {self.kv_at(tokens) / mb:,.2f} MB "
            f"({tokens:,}/{self.n_ctx:,} tokens) · scratch {self.scratch / mb:,.1f} MB"
        )


def mapped_resident_bytes(path: str | Path | None, smaps: str | None = None) -> int | None:
    """Resident bytes of this process's mappings of ``path`` (a file, or every file under a
    folder); None when nothing of it is mapped or the platform does not say."""
    if not path:
        return None
    root = Path(path).resolve()
    if smaps is None:
        try:
            smaps = Path("/proc/self/smaps").read_text()
        except OSError:
            return None
    total, mine, found = 0, False, False
    for line in smaps.splitlines():
        head = line.split(maxsplit=5)
        if len(head) >= 5 and "-" in head[0] and ":" not in head[0]:  # a mapping's header
            name = Path(head[5].strip()) if len(head) == 6 and head[5].startswith("/") else None
            mine = name is not None and (name == root or root in name.parents)
            found |= mine
        elif mine and line.startswith("Rss:"):
            total += int(line.split()[1]) * 1024
    return total if found else None


def model_memory(session: Any, backend: str, config: Any, path: str | None) -> ModelMemory:
    """A model's memory now. Call it where the session is free to use (it reads the
    backend: llama.cpp's context is not safe to query while another thread decodes)."""
    parts = {k: int(v) for k, v in session.memory().items()}
    weights = sum(v for k, v in parts.items() if k not in _NOT_WEIGHTS)
    n_ctx = int(getattr(session, "n_ctx", 0) or config.max_position)
    kv = parts.get("kv_cache", 0)
    if backend == "native" and n_ctx:
        per_token, capacity = kv / n_ctx, kv  # allocated for n_ctx tokens at load
    else:
        elem = _KV_ELEMENT_BYTES.get(backend, 4)
        per_token = 2.0 * config.n_layers * config.n_kv_heads * config.head_dim * elem
        capacity = 0
    return ModelMemory(
        weights=weights,
        mapped_resident=mapped_resident_bytes(path),
        kv_per_token=per_token,
        kv_capacity=capacity,
        n_ctx=n_ctx,
        scratch=parts.get("scratch", 0),
    )
