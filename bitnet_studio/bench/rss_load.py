"""Resident memory of a native load, step by step (``bitnet-studio bench e2e --rss``).

RSS before reading, after reading the file (views and packed tensors only), after the
native backend built its layout, and after one prefill + decode (the head and every weight
touched once), next to the weights' packed size and the KV cache the session reports.
"""

from __future__ import annotations

import gc
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bitnet_studio.engine.metrics import rss_mb

MIB = 1 << 20


@dataclass
class RssReport:
    model: str
    head: str
    kv_f16: bool
    before_mb: float
    read_mb: float
    loaded_mb: float
    after_decode_mb: float
    weights_mb: float  # the session's weights as it stores them (packed linears, head, ...)
    kv_mb: float
    scratch_mb: float

    @property
    def over_mb(self) -> float:
        """RSS added by the load and a decode, minus weights + KV cache + scratch."""
        return (
            self.after_decode_mb - self.before_mb - self.weights_mb - self.kv_mb - self.scratch_mb
        )

    def line(self) -> str:
        share = (self.after_decode_mb - self.before_mb) / (
            self.weights_mb + self.kv_mb + self.scratch_mb
        )
        return (
            f"{Path(self.model).name}  head {self.head:<3}  kv {'f16' if self.kv_f16 else 'f32'}"
            f"  RSS before {self.before_mb:.0f} MB, read {self.read_mb:.0f}, loaded "
            f"{self.loaded_mb:.0f}, after decode {self.after_decode_mb:.0f}  |  weights "
            f"{self.weights_mb:.0f} + KV {self.kv_mb:.0f} + scratch {self.scratch_mb:.0f} MB"
            f"  |  added / (weights + KV + scratch) = {share:.3f}"
        )

    def record(self) -> dict[str, Any]:
        return asdict(self) | {"over_mb": round(self.over_mb, 1)}


def measure_load_rss(
    path: Path, head: str = "f16", kv_f16: bool = False, n_ctx: int = 512
) -> RssReport:
    """Loads ``path`` into the native backend and reports RSS at each step."""
    from bitnet_studio.engine.native_backend import NativeBackend
    from bitnet_studio.formats import load_model

    gc.collect()
    before = rss_mb()
    model = load_model(path)
    read = rss_mb()
    backend = NativeBackend(head_dtype=None if head == "f16" else head, kv_f16=kv_f16, n_ctx=n_ctx)  # type: ignore[arg-type]
    session = backend.load(model)
    del model  # the session keeps what it points into
    gc.collect()
    loaded = rss_mb()
    session.prefill(list(range(3, 35)), all_logits=False)
    session.decode(7)
    after = rss_mb()
    mem = session.memory()
    weights = sum(mem.get(k, 0) for k in ("embeddings", "attention", "mlp", "norms", "head"))
    report = RssReport(
        str(path),
        head,
        kv_f16,
        round(before, 1),
        round(read, 1),
        round(loaded, 1),
        round(after, 1),
        round(weights / MIB, 1),
        round(mem.get("kv_cache", 0) / MIB, 1),
        round(mem.get("scratch", 0) / MIB, 1),
    )
    session.close()
    return report
