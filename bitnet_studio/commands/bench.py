"""``bitnet-studio bench kernels|e2e|ui``: benchmarks that print tables (and optionally JSON)."""

from __future__ import annotations

import argparse
import importlib

# (subcommand, module in bitnet_studio.bench, help)
SUITES = [
    ("kernels", "kernels", "time ternary / fp16 / fp32 kernels against torch, cold and warm"),
    ("e2e", "e2e", "generate the same workload with every backend: tokens/s, GB/s, share of DRAM"),
    ("ui", "ui_responsiveness", "window-up time and GUI stalls while Compare panes generate"),
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="suite", metavar="SUITE", required=True)
    for name, module, help_text in SUITES:
        mod = importlib.import_module(f"bitnet_studio.bench.{module}")
        sp = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(sp)
        sp.set_defaults(run_suite=mod.run)


def run(args: argparse.Namespace) -> int:
    return int(args.run_suite(args) or 0)
