"""``bitnet-studio gui``: the desktop app; with ``--screenshot`` a scripted run for docs and checks.

    bitnet-studio gui --screenshot compare.png --prompt "What is 2+2?"

opens the window, loads the models (the default pair unless ``--models``), runs the prompt to
its end on every pane, saves a PNG of the window and exits.

    bitnet-studio gui --page qat-lab --lab-steps 60 --screenshot qat-lab.png

trains both twins of the QAT lab for 60 steps first, and shoots their loss curves.
"""

from __future__ import annotations

import argparse

from bitnet_studio.engine.registry import BACKENDS
from bitnet_studio.ui.pages import PAGES, PAIRS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--screenshot", metavar="FILE", help="save a PNG of the window and exit")
    p.add_argument("--page", choices=PAGES, default="compare")
    p.add_argument("--prompt", help="with --screenshot: send this prompt first, wait for the end")
    p.add_argument(
        "--models",
        nargs="+",
        metavar="MODEL",
        default=list(PAIRS["smollm2"][1]),
        help="models for the panes, left to right (default: the default pair; the trained "
        "twins: default-trained-vanilla default-trained-ternary)",
    )
    p.add_argument("--backend", choices=BACKENDS, default="native")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds a scripted run may take")
    p.add_argument(
        "--size", type=_size, default=None, metavar="WxH", help="window size, e.g. 1440x900"
    )
    p.add_argument(
        "--bench",
        choices=("quick", "full"),
        default=None,
        help="with --screenshot: run this kernel benchmark on Measure first",
    )
    p.add_argument(
        "--lab-steps",
        type=int,
        default=None,
        metavar="N",
        help="with --screenshot: train the QAT lab's twins N steps first (use --page qat-lab)",
    )
    p.add_argument(
        "--text",
        default=None,
        metavar="TEXT",
        help="with --screenshot --page evaluate: score the models on this text first "
        "(heldout, prose or a UTF-8 file; the first model is the reference)",
    )


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"expected a positive size, got {text!r}")
    return w, h


def run(args: argparse.Namespace) -> int:
    from bitnet_studio.ui.app import run_gui

    return run_gui(
        models=args.models,
        backend=args.backend,
        threads=args.threads,
        page=args.page,
        screenshot=args.screenshot,
        prompt=args.prompt,
        timeout_s=args.timeout,
        size=args.size,
        bench=args.bench,
        lab_steps=args.lab_steps,
        eval_text=args.text,
    )


def run_default() -> int:
    """``bitnet-studio`` with no command: the app with its defaults."""
    return run(build_defaults())


def build_defaults() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args([])
