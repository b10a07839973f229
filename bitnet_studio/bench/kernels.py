"""Kernel benchmark (being written)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None)


def run(args: argparse.Namespace) -> int:
    raise SystemExit("bench kernels: not written yet")
