"""``bitnet-studio bench e2e``: every backend generates the same workload, end to end.

Rows: native ternary (I2), native fp16, torch fp32, llama.cpp F16 and llama.cpp TQ2_0, on
SmolLM2-135M (fp16 and its naive ternary twin) and on a random model of the BitNet b1.58
2B4T shape, at 1 and 2 threads. Each row gives prefill and decode tokens/s, the weight
bytes read per decoded token (linears as stored + the head), the GB/s that makes, its share
of the DRAM read bandwidth measured at the same thread count, and the bandwidth-bound
tokens/s. Prints a table on stdout (progress on stderr when it is a terminal); ``--json
FILE`` writes the list of records (see :class:`bitnet_studio.bench.e2e_run.E2ERecord`).
The core is :func:`bitnet_studio.bench.e2e_run.run_e2e_bench`.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from bitnet_studio.bench.e2e_models import MODELS
from bitnet_studio.bench.e2e_run import CASES, E2EConfig, E2EResult, quick_config, run_e2e_bench
from bitnet_studio.bench.e2e_turns import run_turns, turn_lines
from bitnet_studio.bench.machine import describe_machine
from bitnet_studio.bench.output import json_path, print_progress, write_records
from bitnet_studio.bench.rss_load import rss_lines
from bitnet_studio.errors import StudioError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", default=None, metavar="FILE", help="write the records as JSON")
    p.add_argument("--threads", default=None, metavar="N[,N...]", help="thread counts (1,2)")
    p.add_argument(
        "--models",
        default=None,
        metavar="LIST",
        help=f"comma list of {', '.join(MODELS)} (default: smollm2,2b4t)",
    )
    p.add_argument(
        "--backends",
        default=None,
        metavar="LIST",
        help=f"comma list of {', '.join(CASES)} (default: all)",
    )
    p.add_argument(
        "--prompt-tokens", type=int, default=None, metavar="P", help="prompt length (128)"
    )
    p.add_argument(
        "--new-tokens",
        type=int,
        default=None,
        metavar="N",
        help="tokens generated (default: 32 SmolLM2, 16 2B4T)",
    )
    p.add_argument(
        "--repeats", type=int, default=None, metavar="R", help="runs per row, best kept (1)"
    )
    p.add_argument(
        "--cache-dir",
        default=None,
        metavar="DIR",
        help="where GGUF files for llama.cpp are kept (~/.cache/bitnet-studio/bench)",
    )
    p.add_argument("--quick", action="store_true", help="tiny random models only (for tests)")
    p.add_argument(
        "--turns",
        type=int,
        default=0,
        metavar="T",
        help="also time T chat turns per real model (native fp16, TTFT with and without KV reuse)",
    )
    p.add_argument("--kv-f16", action="store_true", help="native rows and turns: fp16 KV cache")
    p.add_argument(
        "--rss",
        action="store_true",
        help="also report resident memory step by step when loading each model's TQ2_0 GGUF",
    )


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise StudioError(flag, f"expected comma-separated positive integers, got {text!r}")
    return values


def _names(text: str, known: list[str], flag: str) -> list[str]:
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise StudioError(flag, f"unknown name(s) {bad}; choose from {', '.join(known)}")
    return list(dict.fromkeys(names))


def config_from_args(args: argparse.Namespace) -> E2EConfig:
    cfg = quick_config() if args.quick else E2EConfig()
    if args.threads is not None:
        cfg.threads = _ints(str(args.threads), "--threads")
    if args.models:
        cfg.models = _names(args.models, list(MODELS), "--models")
    if args.backends:
        cfg.backends = _names(args.backends, list(CASES), "--backends")
    for flag, attr in (("--prompt-tokens", "prompt_tokens"), ("--new-tokens", "new_tokens")):
        value = getattr(args, attr)
        if value is not None:
            if value < 1:
                raise StudioError(flag, "must be a positive integer")
            setattr(cfg, attr, value)
    if args.repeats is not None:
        if args.repeats < 1:
            raise StudioError("--repeats", "must be a positive integer")
        cfg.repeats = args.repeats
    if args.cache_dir:
        cfg.cache_dir = Path(args.cache_dir).expanduser()
    return cfg


_COLUMNS = (
    ("model", "<", "model"),
    ("backend", "<", "case"),
    ("linears", "<", "weights"),
    ("emb/head", "<", "emb_head"),
    ("thr", ">", "threads"),
    ("P", ">", "prompt_tokens"),
    ("N", ">", "new_tokens"),
    ("weight MB", ">", "weight_mb"),
    ("MB/token", ">", "mb_per_token"),
    ("TTFT ms", ">", "ttft_ms"),
    ("prefill t/s", ">", "prefill_tps"),
    ("decode t/s", ">", "decode_tps"),
    ("net t/s", ">", "decode_tps_net"),
    ("GB/s", ">", "effective_gbps"),
    ("% DRAM", ">", "share"),
    ("bound t/s", ">", "bound_tps"),
    ("RSS MB", ">", "rss_mb"),
)


def _cells(rec: dict) -> dict[str, str]:
    return {
        "model": rec["model"],
        "case": rec["case"],
        "weights": rec["weights"],
        "emb_head": f"{rec['embedding_type']}/{rec['head_type']}",
        "threads": str(rec["threads"]),
        "prompt_tokens": str(rec["prompt_tokens"]),
        "new_tokens": str(rec["new_tokens"]),
        "weight_mb": f"{rec['weight_mb']:.0f}",
        "mb_per_token": f"{rec['bytes_per_token'] / 1e6:.1f}",
        "ttft_ms": f"{rec['ttft_ms']:.0f}",
        "prefill_tps": f"{rec['prefill_tps']:.1f}",
        "decode_tps": f"{rec['decode_tps']:.2f}",
        "decode_tps_net": f"{rec['decode_tps_net']:.2f}",
        "effective_gbps": f"{rec['effective_gbps']:.2f}",
        "share": f"{100 * rec['bandwidth_share']:.0f}%",
        "bound_tps": f"{rec['bound_tps']:.1f}",
        "rss_mb": f"{rec['rss_mb']:.0f}",
    }


def table_lines(result: E2EResult) -> list[str]:
    """The records as a text table, grouped by model then thread count, with notes."""
    lines = [describe_machine(result.machine)] if result.machine else []
    for t, bw in result.bandwidth.items():
        bws = result.samples.get(t)
        detail = bws.describe() if bws is not None else f"{bw.gbps:.2f} GB/s"
        lines.append(f"DRAM read bandwidth, {t} thread(s): {detail}")
    recs = [dataclasses.asdict(r) for r in result.records]
    order = {m.label: i for i, m in enumerate(MODELS.values())}
    recs.sort(key=lambda r: (order.get(r["model"], 99), r["threads"], list(CASES).index(r["case"])))
    rows = [_cells(r) for r in recs]
    widths = {k: max([len(h)] + [len(row[k]) for row in rows]) for h, _, k in _COLUMNS}
    header = "  ".join(f"{h:{a}{widths[k]}}" for h, a, k in _COLUMNS)
    lines += ["", header, "-" * len(header)]
    last = None
    for rec, row in zip(recs, rows, strict=True):
        group = (rec["model"], rec["threads"])
        if last is not None and group != last:
            lines.append("")
        last = group
        lines.append("  ".join(f"{row[k]:{a}{widths[k]}}" for _, a, k in _COLUMNS))
    notes = list(result.notes)
    for r in recs:
        notes += [f"{r['model']} / {r['case']}: {n}" for n in r["notes"]]
    notes = list(dict.fromkeys(notes))
    if recs:
        worst = max(r["sampler_ms"] for r in recs)
        notes.append(
            f"decode t/s includes the generate() loop's sampling (up to {worst:.1f} ms/token, "
            "measured alone); net t/s takes it out; GB/s and % DRAM use decode t/s; % DRAM is "
            "of the median bandwidth sample at the row's thread count (the roof)"
        )
    notes += [f"not measured: {s}" for s in result.skipped]
    if notes:
        lines += ["", "notes:"] + [f"  - {n}" for n in notes]
    return lines


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    out_path = json_path(args.json)
    if args.turns < 0:
        raise StudioError("--turns", "must be 0 or more")
    cfg.kv_f16 = bool(args.kv_f16)
    result = run_e2e_bench(cfg, progress=print_progress)
    for line in table_lines(result):
        print(line)
    for model in cfg.models if args.turns else []:
        if not MODELS[model].text_prompt:  # random weights: their answers are noise
            continue
        for t in cfg.threads:
            print()
            for line in turn_lines(
                run_turns(model, args.turns, t, kv_f16=cfg.kv_f16, cache_dir=cfg.cache_dir)
            ):
                print(line)
    for model in cfg.models if args.rss else []:
        if model == "smollm2":  # 576-wide rows: its TQ2_0 file is mostly F16 (not ternary)
            continue
        print()
        for line in rss_lines(model, cfg.cache_dir, cfg.kv_f16):
            print(line)
    write_records(out_path, result.records)
    return 0 if result.records or not cfg.backends else 1
