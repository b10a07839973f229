"""The data behind the Inspect page's plots, computed without Qt (and off the GUI thread).

* :func:`tensor_groups` -- a model's tensors grouped as the tree shows them;
* :func:`tensor_view` -- one tensor's statistics, histogram and top-left tile;
* :func:`depth_profile` -- per layer and projection: scale and zero share (ternary) or
  std and absmean (float), the curves along depth;
* :func:`component_bytes` -- bytes of embeddings, attention, MLP, norms, head and the KV
  cache at a given context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bitnet_studio.formats.arch_map import LINEARS
from bitnet_studio.inspect.stats import TensorStats, histogram, tensor_stats
from bitnet_studio.inspect.summary import kv_cache_bytes
from bitnet_studio.models.weights import BinaryTensor, ModelWeights, Tensor, TernaryTensor

PROJECTIONS = LINEARS
COMPONENTS = ("embeddings", "attention", "mlp", "norms", "head", "kv cache")
_LAYER = re.compile(r"^layers\.(\d+)\.")
_CHUNK = 1 << 22


def layer_of(name: str) -> int | None:
    """The layer index in a canonical name (``layers.3.mlp.up_proj`` -> 3), else None."""
    m = _LAYER.match(name)
    return int(m.group(1)) if m else None


def tensor_groups(model: ModelWeights) -> list[tuple[str, list[str]]]:
    """[("model", [embed_tokens, norm, lm_head...]), ("layer 0", [...]), ...] in file order
    within a group, layers in numeric order."""
    top: list[str] = []
    layers: dict[int, list[str]] = {}
    for name in model.tensors:
        i = layer_of(name)
        if i is None:
            top.append(name)
        else:
            layers.setdefault(i, []).append(name)
    groups = [("model", top)] if top else []
    groups += [(f"layer {i}", layers[i]) for i in sorted(layers)]
    return groups


def tile(t: Tensor, size: int = 64) -> np.ndarray:
    """The top-left ``size`` x ``size`` values as float32 (ternary: dequantized). A 1-D
    tensor is folded into rows of ``size`` (the last row padded with NaN)."""
    if isinstance(t, TernaryTensor):
        codes = t.codes[:size, :size].astype(np.float32)
        s = t.scale.reshape(-1)
        rows = s[: codes.shape[0]].reshape(-1, 1) if s.size > 1 else np.float32(s[0])
        return codes * rows
    if isinstance(t, BinaryTensor):
        scale = t.scale if t.scale.size == 1 else t.scale[:size, : -(-size // t.BLOCK)]
        return BinaryTensor(t.signs[:size, :size], scale).dequantize()
    a = np.asarray(t)
    if a.ndim >= 2:
        return np.asarray(a.reshape(a.shape[0], -1)[:size, :size], dtype=np.float32)
    flat = np.asarray(a.reshape(-1)[: size * size], dtype=np.float32)
    n_rows = max(1, -(-flat.size // size))
    out = np.full(n_rows * size, np.nan, np.float32)
    out[: flat.size] = flat
    return out.reshape(n_rows, size)


@dataclass
class TensorView:
    name: str
    stats: TensorStats
    counts: np.ndarray  # histogram counts (ternary: -1, 0, +1; binary: -1, +1)
    edges: np.ndarray  # len(counts) + 1 bin edges, in weight units
    tile: np.ndarray  # float32 (rows, cols)

    @property
    def is_ternary(self) -> bool:
        return self.stats.kind == "ternary"

    @property
    def is_binary(self) -> bool:
        return self.stats.kind == "binary"


def tensor_view(
    model: ModelWeights, name: str, bins: int = 101, sample: int = 1 << 20, tile_size: int = 64
) -> TensorView:
    """Everything the tensor panel draws; float histograms use at most ``sample`` values."""
    t = model.tensors[name]
    stats = tensor_stats(name, t, model.tensor_types.get(name, ""))
    counts, edges = histogram(t, bins=bins, sample=sample)
    return TensorView(name, stats, counts, np.asarray(edges, np.float64), tile(t, tile_size))


def _absmean(a: np.ndarray) -> float:
    flat = a.reshape(-1)
    s = 0.0
    for i in range(0, flat.size, _CHUNK):
        s += float(np.abs(np.asarray(flat[i : i + _CHUNK], dtype=np.float64)).sum())
    return s / max(1, flat.size)


@dataclass
class DepthProfile:
    """Per projection, two metrics along depth (NaN where a layer lacks the tensor)."""

    kind: str  # "ternary" when any projection is ternary, else "binary" when any is 1-bit,
    # else "float"
    metrics: tuple[str, str]  # ("scale", "zero share"), ("scale", "+1 share"), ("std", "absmean")
    layers: np.ndarray  # 0 .. n_layers - 1
    first: dict[str, np.ndarray]  # projection -> metrics[0] per layer
    second: dict[str, np.ndarray]  # projection -> metrics[1] per layer


def depth_profile(model: ModelWeights) -> DepthProfile:
    """Scale and zero share (ternary models), scale and +1 share (1-bit ones) or std and
    absmean (float ones) of every projection in every layer."""
    n = model.config.n_layers
    ternary = any(isinstance(t, TernaryTensor) for t in model.tensors.values())
    binary = not ternary and any(isinstance(t, BinaryTensor) for t in model.tensors.values())
    first: dict[str, np.ndarray] = {}
    second: dict[str, np.ndarray] = {}
    for proj in PROJECTIONS:
        a, b = np.full(n, np.nan), np.full(n, np.nan)
        for i in range(n):
            t = model.tensors.get(f"layers.{i}.{proj}")
            if t is None:
                continue
            if isinstance(t, TernaryTensor):
                s = tensor_stats(proj, t)
                a[i], b[i] = float(s.scale or 0.0), s.zero_share
            elif isinstance(t, BinaryTensor):
                s = tensor_stats(proj, t)
                a[i], b[i] = float(s.scale or 0.0), s.pos_share
            elif not (ternary or binary):
                a[i], b[i] = tensor_stats(proj, t).std, _absmean(t)
        if not (np.isnan(a).all() and np.isnan(b).all()):
            first[proj], second[proj] = a, b
    kind = "ternary" if ternary else "binary" if binary else "float"
    metrics = {"ternary": ("scale", "zero share"), "binary": ("scale", "+1 share")}.get(
        kind, ("std", "absmean")
    )
    return DepthProfile(kind, metrics, np.arange(n), first, second)


def component_bytes(
    model: ModelWeights, context: int, kv_bytes_per_value: int = 2
) -> dict[str, int]:
    """Bytes by component, in :data:`COMPONENTS` order; the KV cache holds ``context``
    tokens of fp16 (by default). A tied head has 0 bytes of its own."""
    by_kind = model.nbytes_by_kind()
    out = {k: int(by_kind.get(k, 0)) for k in COMPONENTS[:-1]}
    out["kv cache"] = kv_cache_bytes(model, context, kv_bytes_per_value)
    return out
