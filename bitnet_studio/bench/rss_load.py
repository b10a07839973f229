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


def measure_in_subprocess(path: Path, head: str, kv_f16: bool = False) -> RssReport:
    """:func:`measure_load_rss` in a fresh interpreter, so no earlier allocation blurs RSS."""
    import json
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "bitnet_studio.bench.rss_load", str(path), head]
    out = subprocess.run(
        cmd + (["--kv-f16"] if kv_f16 else []), capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"RSS probe failed: {out.stderr.strip()[-500:]}")
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    rec.pop("over_mb", None)
    return RssReport(**rec)


def rss_lines(model_key: str, cache_dir: Path | None = None, kv_f16: bool = False) -> list[str]:
    """RSS step by step for the model's ternary GGUF with an F16, int8 and 4-bit head."""
    from bitnet_studio.bench.e2e_models import MODELS, default_cache_dir, ensure_gguf

    path = ensure_gguf(MODELS[model_key], "tq2_0", cache_dir or default_cache_dir())
    lines = [f"resident memory, native backend on {path.name} (fresh process per head):"]
    for head in ("f16", "i8", "q4"):
        lines.append("  " + measure_in_subprocess(path, head, kv_f16).line())
    return lines


if __name__ == "__main__":
    import json
    import sys

    rep = measure_load_rss(Path(sys.argv[1]), sys.argv[2], kv_f16="--kv-f16" in sys.argv[3:])
    print(json.dumps(rep.record()))
