"""``bitnet-studio bench kernels``: ternary / fp16 / fp32 kernels against torch, cold and warm.

Prints the CPU model and the SIMD path, then per thread count a timing table, a ratio
table and a summary of our ternary kernels (cold batch 1 against the streaming read roof
measured in the same run, median and spread; batch-64 speed-up per token) on stdout
(progress on stderr when it is a terminal); ``--json FILE`` writes the list of records
(see :class:`bitnet_studio.bench.kernel_bench.Record`). ``--path`` (or
BITNET_STUDIO_KERNEL_PATH) picks the SIMD path, e.g. ``avx2`` on an AVX-512 machine.
"""

from __future__ import annotations

import argparse
import dataclasses

from bitnet_studio import kernels
from bitnet_studio.bench import report
from bitnet_studio.bench.backends import BACKENDS
from bitnet_studio.bench.binary_backends import binary_vs_ternary_lines
from bitnet_studio.bench.kernel_bench import (
    SHAPES,
    KernelBenchConfig,
    Shape,
    quick_config,
    run_kernel_bench,
)
from bitnet_studio.bench.machine import load_text
from bitnet_studio.bench.output import json_path, print_progress, write_records
from bitnet_studio.errors import StudioError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        default=None,
        metavar="N[,N...]",
        help="kernel and torch thread count(s), each run in turn (default: all cores)",
    )
    p.add_argument("--json", default=None, metavar="FILE", help="write the records as JSON")
    p.add_argument(
        "--quick", action="store_true", help="a tiny subset with small copies (for tests)"
    )
    p.add_argument(
        "--shapes",
        default=None,
        metavar="LIST",
        help="comma list of ROWSxCOLS or model names (bitnet, smollm2); default: all",
    )
    p.add_argument(
        "--backends",
        default=None,
        metavar="LIST",
        help=f"comma list of {', '.join(BACKENDS)} (default: all)",
    )
    p.add_argument("--batch", default=None, metavar="N[,N...]", help="batch sizes (default 1,64)")
    p.add_argument(
        "--path",
        default=None,
        metavar="NAME",
        help="SIMD path of our kernels: auto, scalar, avx2, avxvnni, avx512, neon (default: the "
        "active one, which BITNET_STUDIO_KERNEL_PATH can force)",
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        metavar="S",
        help="time budget per case (default 0.25; --quick 0.01)",
    )


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise StudioError(flag, f"expected comma-separated positive integers, got {text!r}")
    return values


def _shapes(text: str, pool: tuple[Shape, ...]) -> list[Shape]:
    picked: list[Shape] = []
    for item in (t.strip().lower() for t in text.split(",") if t.strip()):
        if "x" in item and item.replace("x", "").isdigit():
            r, c = (int(v) for v in item.split("x", 1))
            match = [s for s in pool if (s.rows, s.cols) == (r, c)] or [Shape("custom", "", r, c)]
        else:
            match = [s for s in pool if s.model.startswith(item)]
            if not match:
                models = sorted({s.model for s in pool})
                raise StudioError("--shapes", f"unknown shape or model {item!r} (models: {models})")
        picked += [s for s in match if s not in picked]
    if not picked:
        raise StudioError("--shapes", "no shapes given")
    return picked


def config_from_args(args: argparse.Namespace) -> KernelBenchConfig:
    cfg = quick_config() if args.quick else KernelBenchConfig()
    if args.threads is not None:
        cfg.threads = _ints(str(args.threads), "--threads")
    if args.shapes:
        cfg.shapes = _shapes(args.shapes, SHAPES)
    if args.backends:
        names = [b.strip() for b in args.backends.split(",") if b.strip()]
        bad = [b for b in names if b not in BACKENDS]
        if bad or not names:
            known = list(BACKENDS)
            raise StudioError("--backends", f"unknown backend(s) {bad}; choose from {known}")
        cfg.backends = names
    if args.batch:
        cfg.batches = _ints(args.batch, "--batch")
    if args.path is not None:
        name = str(args.path).strip().lower()
        if name not in ("auto", *kernels.available_paths()):
            raise StudioError(
                "--path",
                f"kernel path {name!r} is not available here ({kernels.available_paths()})",
            )
        cfg.path = name
    if args.seconds is not None:
        if args.seconds <= 0:
            raise StudioError("--seconds", "the time budget must be positive")
        cfg.budget = dataclasses.replace(cfg.budget, seconds=args.seconds)
    return cfg


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    out_path = json_path(args.json)
    result = run_kernel_bench(cfg, progress=print_progress)
    load = load_text(*result.load)
    for line in report.header_lines(result.cpu, result.path, kernels.available_paths(), load):
        print(line)
    for threads, bw in result.bandwidth.items():
        print()
        for line in report.timing_lines(result.records, threads, bw, cfg.shapes):
            print(line)
        print()
        for line in report.ratio_lines(result.records, threads):
            print(line)
        summary = report.summary_lines(result.records, threads, bw)
        if summary:
            print()
            for line in summary:
                print(line)
        binary = binary_vs_ternary_lines(result.records, threads)
        if binary:
            print()
            print("\n".join(binary))
    write_records(out_path, result.records)
    return 0
