"""Model-level summary: architecture, parameters and bytes by kind, bits per weight."""

from __future__ import annotations

from typing import Any

from bitnet_studio.inspect.stats import TensorStats, model_stats
from bitnet_studio.models.weights import ModelWeights


def kind_of(name: str) -> str:
    if name == "embed_tokens":
        return "embeddings"
    if name == "lm_head":
        return "head"
    if ".self_attn." in name and name.endswith("_proj"):
        return "attention"
    if ".mlp." in name:
        return "mlp"
    return "norms"


def kv_cache_bytes(model: ModelWeights, context: int, bytes_per_value: int = 2) -> int:
    c = model.config
    return 2 * c.n_layers * c.n_kv_heads * c.head_dim * context * bytes_per_value


def summarize(model: ModelWeights, with_tensors: bool = True) -> dict[str, Any]:
    """What ``inspect`` prints and the UI's model facts panel shows."""
    stats = model_stats(model)
    by_kind: dict[str, dict[str, float]] = {}
    for s in stats:
        k = by_kind.setdefault(kind_of(s.name), {"params": 0, "bytes": 0})
        n = 1
        for d in s.shape:
            n *= d
        k["params"] += n
        k["bytes"] += s.nbytes
    params = sum(int(v["params"]) for v in by_kind.values())
    nbytes = sum(int(v["bytes"]) for v in by_kind.values())
    for v in by_kind.values():
        v["bits_per_weight"] = 8.0 * v["bytes"] / max(1.0, v["params"])
    linear = [s for s in stats if s.name.endswith("_proj")]
    ternary = [s for s in linear if s.kind == "ternary"]
    c = model.config
    return {
        "source": str(model.source) if model.source else None,
        "format": model.format,
        "architecture": c.arch,
        "config": {
            k: getattr(c, k)
            for k in (
                "vocab_size",
                "hidden_size",
                "intermediate_size",
                "n_layers",
                "n_heads",
                "n_kv_heads",
                "head_dim",
                "hidden_act",
                "rope_theta",
                "max_position",
                "tie_word_embeddings",
            )
        },
        "parameters": params,
        "bytes": nbytes,
        "bits_per_weight": 8.0 * nbytes / max(1, params),
        "linear_layers": len(linear),
        "ternary_linear_layers": len(ternary),
        "by_kind": by_kind,
        "kv_cache_bytes_per_token": kv_cache_bytes(model, 1),
        "nonfinite_tensors": {s.name: s.nonfinite for s in stats if s.nonfinite},
        "notes": list(getattr(model, "notes", [])),
        "tensors": [s.as_dict() for s in stats] if with_tensors else [],
    }


def grouped_notes(notes: list[str]) -> list[tuple[str, int]]:
    """Per-tensor notes ("blk.3.attn_q.weight: Q4_1 dequantized ...") grouped by what they say."""
    counts: dict[str, int] = {}
    for n in notes:
        head, sep, rest = n.partition(": ")
        key = rest if sep and "." in head and " " not in head else n
        counts[key] = counts.get(key, 0) + 1
    return list(counts.items())


def nonfinite_warning(summary: dict[str, Any]) -> str:
    """One sentence when tensors hold NaN/Inf (the file is corrupt), else ""."""
    bad: dict[str, int] = summary.get("nonfinite_tensors") or {}
    if not bad:
        return ""
    names = list(bad)
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return (
        f"{sum(bad.values()):,} non-finite weights (NaN/Inf) in {len(names)} tensors "
        f"({', '.join(names[:3])}{more}): the file is corrupt and generation is likely to fail"
    )


def format_summary(summary: dict[str, Any], tensors: list[TensorStats] | None = None) -> str:
    lines = [
        f"model: {summary['source'] or '(in memory)'}  [{summary['format']}]",
        f"architecture: {summary['architecture']}  "
        + ", ".join(f"{k}={v}" for k, v in summary["config"].items()),
        f"parameters: {summary['parameters']:,}  bytes: {summary['bytes'] / 1e6:.1f} MB  "
        f"bits/weight: {summary['bits_per_weight']:.2f}  ternary linears: "
        f"{summary['ternary_linear_layers']}/{summary['linear_layers']}",
        f"{'kind':<12}{'params':>14}{'MB':>10}{'bits/w':>8}",
    ]
    for kind, v in sorted(summary["by_kind"].items()):
        lines.append(
            f"{kind:<12}{int(v['params']):>14,}{v['bytes'] / 1e6:>10.2f}"
            f"{v['bits_per_weight']:>8.2f}"
        )
    lines.append(f"kv cache (fp16): {summary['kv_cache_bytes_per_token'] / 1024:.1f} KiB per token")
    warning = nonfinite_warning(summary)
    if warning:
        lines.append(f"warning: {warning}")
    for note, count in grouped_notes(summary["notes"]):
        lines.append(f"note: {note}" + (f" ({count} tensors)" if count > 1 else ""))
    if tensors:
        lines.append(
            f"{'tensor':<36}{'type':<12}{'shape':<16}{'mean':>10}{'std':>10}"
            f"{'zero%':>7}{'scale':>10}"
        )
        for s in tensors:
            scale = f"{s.scale:.4g}" if s.scale is not None else ""
            lines.append(
                f"{s.name:<36}{s.stored_type:<12}{'x'.join(map(str, s.shape)):<16}"
                f"{s.mean:>10.3g}{s.std:>10.3g}{100 * s.zero_share:>7.1f}{scale:>10}"
            )
    return "\n".join(lines)
