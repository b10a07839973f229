"""``bitnet-studio bench ui``: how responsive the desktop app stays.

Prints the time from start to the window's first paint, and the event-loop stalls (p50 /
p99 / max, from a 5 ms probe timer) while every Compare pane generates at once, next to the
targets; ``--json FILE`` writes ``{window_up_ms, stall_p50_ms, stall_p99_ms, stall_max_ms,
samples, tokens: {pane: n}}``. Works offscreen (``QT_QPA_PLATFORM=offscreen``) or on a
display. Qt is imported inside :func:`run` only (only ``bitnet_studio.ui`` imports Qt).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

DEFAULT_PROMPT = "What is the capital of France?"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", default=None, metavar="FILE", help="write the results as JSON")
    p.add_argument(
        "--models",
        nargs="+",
        metavar="MODEL",
        default=["default-vanilla", "default-ternary"],
        help="models for the Compare panes (default: the default pair)",
    )
    p.add_argument("--prompt", default=DEFAULT_PROMPT, help="what every pane answers")
    p.add_argument("--max-tokens", type=int, default=64, metavar="N", help="tokens per pane")
    p.add_argument("--backend", default="native", help="engine backend (default native)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds loading or a run may take")


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()  # before Qt is imported: the window-up time includes it
    from bitnet_studio.ui.responsiveness import (
        TARGET_P99_MS,
        TARGET_WINDOW_UP_MS,
        run_ui_bench,
    )

    result = run_ui_bench(
        models=args.models,
        prompt=args.prompt,
        max_tokens=args.max_tokens,
        backend=args.backend,
        timeout_s=args.timeout,
        t0=t0,
    ).as_dict()
    print(f"platform        {result['platform']}")
    print(
        f"window up       {result['window_up_ms']:8.1f} ms   (target < {TARGET_WINDOW_UP_MS:.0f})"
    )
    print(f"GUI stall p50   {result['stall_p50_ms']:8.2f} ms")
    print(f"GUI stall p99   {result['stall_p99_ms']:8.2f} ms   (target < {TARGET_P99_MS:.0f})")
    print(f"GUI stall max   {result['stall_max_ms']:8.2f} ms")
    print(f"samples         {result['samples']:8d}")
    for pane, n in result["tokens"].items():
        print(f"tokens          {n:8d}      {pane}")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    return 0
