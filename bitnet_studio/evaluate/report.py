"""An ``EvalReport`` as a table (stdout, the page), CSV and JSON (with the files' hashes).

The JSON holds everything needed to reproduce a row: the text's digest and source, window
and stride, each model's file and its sha256, the backend, and every number of the table.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from functools import cache
from pathlib import Path
from typing import Any

from bitnet_studio.evaluate.cost import ENERGY_PJ, ENERGY_SOURCE
from bitnet_studio.evaluate.run import EvalReport, ModelResult

COLUMNS = (
    "model",
    "tokens",
    "perplexity",
    "bits_per_byte",
    "format",
    "backend",
    "bits_per_weight",
    "weight_mb",
    "kl_mean",
    "kl_p99",
    "top1_agreement",
    "top1_differs",
    "decode_tok_s",
    "weight_mb_read_per_token",
    "kv_mb",
    "float_macs_per_token",
    "int_adds_per_token",
    "energy_uj_per_token_7nm_estimate",
    "energy_uj_per_token_45nm_estimate",
    "window",
    "stride",
    "seconds",
    "scored_tok_s",
)


def row(r: ModelResult) -> dict[str, Any]:
    c = r.cost
    return {
        "model": r.name,
        "tokens": r.tokens,
        "perplexity": r.perplexity,
        "bits_per_byte": r.bits_per_byte,
        "format": r.format,
        "backend": r.backend,
        "bits_per_weight": r.bits_per_weight,
        "weight_mb": r.weight_mb,
        "kl_mean": r.kl_mean,
        "kl_p99": r.kl_p99,
        "top1_agreement": r.top1_agreement,
        "top1_differs": r.top1_differs,
        "decode_tok_s": r.decode_tps,
        "weight_mb_read_per_token": c.weight_bytes / 1e6,
        "kv_mb": c.kv_bytes / 1e6,
        "float_macs_per_token": c.float_macs,
        "int_adds_per_token": c.int_adds,
        "energy_uj_per_token_7nm_estimate": c.energy_pj_7nm / 1e6,
        "energy_uj_per_token_45nm_estimate": c.energy_pj_45nm / 1e6,
        "window": r.window,
        "stride": r.stride,
        "seconds": r.seconds,
        "scored_tok_s": r.tokens / r.seconds if r.seconds > 0 else None,
    }


def _f(v: Any, fmt: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, fmt)


def header_lines(rep: EvalReport) -> list[str]:
    t = rep.text
    lines = [
        f"text: {t.label} ({len(t.parts)} parts, {t.n_bytes} bytes, sha256 {t.sha256[:16]}...)"
    ]
    plans: dict[tuple[int, int], list[str]] = {}
    for r in rep.results:
        plans.setdefault((r.window, r.stride), []).append(r.name)
    for (w, s), names in plans.items():
        who = "" if len(plans) == 1 else f" for {', '.join(names)}"
        lines.append(
            f"window {w} tokens, stride {s}{who} (each window scores only the tokens the "
            "previous one did not)"
        )
    if rep.reference:
        lines.append(f"reference: {rep.reference} (KL(ref || model) in nats per token)")
    lines.append(f"energy: {ENERGY_SOURCE}; arithmetic only, at context = window")
    if rep.cancelled:
        lines.append("CANCELLED: the numbers cover only the tokens scored before the cancel")
    return lines


def table_lines(rep: EvalReport) -> list[str]:
    """The stdout table: model, tokens, perplexity and bits/byte first (the old contract)."""
    w = max(34, *(len(r.name) + 1 for r in rep.results))
    head = (
        f"{'model':<{w}} {'tokens':>8} {'perplexity':>11} {'bits/byte':>10} {'format':>14} "
        f"{'bits/w':>6} {'MB':>8} {'KL mean':>8} {'KL p99':>8} {'top1':>6} "
        f"{'uJ/tok 7nm*':>11} {'s':>7} {'tok/s':>7}"
    )
    lines = [head]
    for r in rep.results:
        d = row(r)
        fmt = d["format"] if len(d["format"]) <= 14 else d["format"][:13] + "~"
        top1 = _f(None if d["top1_agreement"] is None else 100 * d["top1_agreement"], ".1f")
        lines.append(
            f"{r.name:<{w}} {d['tokens']:>8} {_f(d['perplexity'], '.2f'):>11} "
            f"{_f(d['bits_per_byte'], '.4f'):>10} {fmt:>14} {d['bits_per_weight']:>6.2f} "
            f"{d['weight_mb']:>8.2f} {_f(d['kl_mean'], '.4f'):>8} {_f(d['kl_p99'], '.3f'):>8} "
            f"{top1 + ('%' if top1 != '-' else ''):>6} "
            f"{_f(d['energy_uj_per_token_7nm_estimate'], '.2f'):>11} {d['seconds']:>7.1f} "
            f"{_f(d['scored_tok_s'], '.0f'):>7}"
        )
    return lines


@cache
def file_sha256(path: str) -> str | None:
    p = Path(path)
    if p.is_file():
        h = hashlib.sha256()
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    return None


def to_dict(rep: EvalReport) -> dict[str, Any]:
    """The JSON document."""
    t = rep.text
    models = []
    for r in rep.results:
        src = r.source
        files: dict[str, str | None] = {}
        if src:
            p = Path(src)
            targets = [*sorted(p.glob("*.safetensors")), p / "config.json"] if p.is_dir() else [p]
            files = {str(f): file_sha256(str(f)) for f in targets}
        models.append({**row(r), "label": r.label, "source": src, "files_sha256": files})
    return {
        "text": {
            "key": t.key,
            "label": t.label,
            "sha256": t.sha256,
            "bytes": t.n_bytes,
            "parts": len(t.parts),
            "source": t.source,
        },
        "window": rep.window,
        "stride": rep.stride,
        "reference": rep.reference,
        "cancelled": rep.cancelled,
        "seconds": rep.seconds,
        "energy": {
            "note": ENERGY_SOURCE + "; an ESTIMATE of arithmetic energy, not a measurement",
            "pj_per_op_45nm_7nm": {k: list(v) for k, v in ENERGY_PJ.items()},
        },
        "models": models,
    }


def write_json(rep: EvalReport, path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_dict(rep), indent=2) + "\n", encoding="utf-8")


def write_csv(rep: EvalReport, path: str | Path) -> None:
    """One row per model; the text's digest, window and stride repeated on every row."""
    doc = to_dict(rep)
    extra = ("text_sha256", "reference", "source", "files_sha256")
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=[*COLUMNS, *extra])
        w.writeheader()
        for m in doc["models"]:
            out = {k: m[k] for k in COLUMNS}
            out |= {
                "text_sha256": doc["text"]["sha256"],
                "reference": rep.reference or "",
                "source": m["source"] or "",
                "files_sha256": ";".join(f"{k}={v}" for k, v in m["files_sha256"].items()),
            }
            w.writerow(out)
