"""``bitnet-studio train --variant {vanilla,bitnet,b158}``: one recipe, a switch, resumable.

    bitnet-studio train --variant b158 --out runs/b158            # the shipped recipe
    bitnet-studio train --variant b158 --out runs/b158 --resume   # continue after a stop
    bitnet-studio train --variant bitnet --sweep 2e-3 4e-3 8e-3 --steps 150 --out runs/sw
                                                    # short runs, one per peak LR, ranked

Progress goes to stderr; Ctrl+C checkpoints and stops (``--resume`` continues exactly).
At the end: held-out perplexity and bits per byte, and the model exported as GGUF
(``--export``, default ``OUT/model.gguf``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

from bitnet_studio.errors import StudioError

# bitnet_studio.train.model.VARIANTS (importing it here would load torch for every command)
VARIANTS = ("vanilla", "bitnet", "b158")

RECIPES = ("shipped", "lab")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--variant",
        choices=VARIANTS,
        required=True,
        help="vanilla, bitnet (1-bit) or b158 (ternary) linears",
    )
    p.add_argument("--out", type=Path, default=None, help="run folder (checkpoint, tokenizer)")
    p.add_argument("--recipe", choices=RECIPES, default="shipped")
    p.add_argument("--steps", type=int, default=None, help="override the recipe's step count")
    p.add_argument("--seed", type=int, default=None, help="override the recipe's seed")
    p.add_argument(
        "--lr", type=float, default=None, help="peak LR (default: the variant's swept LR)"
    )
    p.add_argument(
        "--sweep",
        type=float,
        nargs="+",
        default=None,
        metavar="LR",
        help="short runs (--steps, default 150), one per peak LR, ranked by held-out loss",
    )
    p.add_argument(
        "--dtype",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="matmul precision (auto: bf16 only where the CPU runs it natively)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--fresh", action="store_true", help="start over even if --out has a run")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    p.add_argument("--export", type=Path, default=None, help="GGUF to write at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bar, only summaries")


def default_out(variant: str) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "bitnet-studio" / "runs" / variant


def run(args: argparse.Namespace) -> int:
    import torch

    from bitnet_studio.train.export import export_gguf
    from bitnet_studio.train.precision import choose
    from bitnet_studio.train.recipe import recipe_for
    from bitnet_studio.train.tokenizer import train_tokenizer
    from bitnet_studio.train.trainer import CHECKPOINT, Control, Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    out: Path = args.out or default_out(args.variant)
    precision = choose(args.dtype)
    if args.sweep:
        return run_sweep(args, out, precision)
    exists = (out / CHECKPOINT).is_file()
    if args.resume:
        trainer = Trainer.resume(out)
        if trainer.variant != args.variant:
            raise StudioError(out, f"this run trains {trainer.variant}, not {args.variant}")
        if args.steps:
            trainer.recipe = replace(trainer.recipe, steps=args.steps)
    else:
        if exists and not args.fresh:
            raise StudioError(out, "a run exists here: --resume continues it, --fresh restarts")
        recipe = replace(recipe_for(args.recipe, args.variant), bf16=precision.bf16)
        if args.steps:
            recipe = replace(recipe, steps=args.steps)
        if args.seed is not None:
            recipe = replace(recipe, seed=args.seed)
        if args.lr is not None:
            recipe = replace(recipe, lr=args.lr)
        print(f"train: tokenizer (BPE, {recipe.shape.vocab_size} tokens)...", file=sys.stderr)
        trainer = Trainer(
            args.variant, recipe, train_tokenizer(recipe.shape.vocab_size), out_dir=out
        )
    print(
        f"train: matmuls in {'bf16' if trainer.recipe.bf16 else 'fp32'}"
        + (f" ({precision.reason})" if trainer.recipe.bf16 == precision.bf16 else " (the run's)"),
        file=sys.stderr,
    )
    control = Control()
    previous = signal.signal(signal.SIGINT, lambda *_: control.request_stop())
    r = trainer.recipe
    print(
        f"train: {args.variant}, {trainer.model.n_params() / 1e6:.2f}M parameters, "
        f"{r.steps} steps x {r.tokens_per_step} tokens, peak LR {r.lr:g}, "
        f"from step {trainer.step}, "
        f"{torch.get_num_threads()} threads -> {out}",
        file=sys.stderr,
    )
    bar = ProgressBar(enabled=not args.no_progress)
    t0, step0 = time.perf_counter(), trainer.step
    try:
        finished = trainer.run(bar.update, control)
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.close()
    minutes = (time.perf_counter() - t0) / 60
    print(f"train: {trainer.step - step0} steps in {minutes:.1f} min", file=sys.stderr)
    if not finished:
        print(f"train: stopped at step {trainer.step}; --resume continues", file=sys.stderr)
        return 130
    result = trainer.evaluate()
    print(
        f"held-out {args.variant}: perplexity {result.perplexity:.2f}, "
        f"bits/byte {result.bits_per_byte:.4f}, loss {result.loss:.4f} ({result.tokens} tokens)"
    )
    path = args.export or out / "model.gguf"
    report = export_gguf(trainer.model, trainer.tokenizer, path)
    print(f"exported {path} ({path.stat().st_size / 1e6:.2f} MB, arch {report.arch})")
    return 0


def run_sweep(args: argparse.Namespace, out: Path, precision) -> int:
    from bitnet_studio.train.recipe import recipe_for
    from bitnet_studio.train.sweep import best, sweep, table
    from bitnet_studio.train.tokenizer import train_tokenizer
    from bitnet_studio.train.trainer import Control

    steps = args.steps or 150
    recipe = replace(recipe_for(args.recipe, args.variant), bf16=precision.bf16)
    if args.seed is not None:
        recipe = replace(recipe, seed=args.seed)
    if any(lr <= 0 for lr in args.sweep):
        raise StudioError("--sweep", "learning rates must be positive")
    print(
        f"train: sweep {args.variant}, peak LRs {' '.join(f'{lr:g}' for lr in args.sweep)}, "
        f"{steps} steps each, matmuls in {precision.describe()} -> {out}",
        file=sys.stderr,
    )
    control = Control()
    previous = signal.signal(signal.SIGINT, lambda *_: control.request_stop())
    bar = ProgressBar(enabled=not args.no_progress)

    def row_done(row) -> None:
        print(
            f"sweep {row.variant} lr {row.lr:g}: held-out loss {row.heldout_loss:.4f}, "
            f"perplexity {row.perplexity:.2f}, bits/byte {row.bits_per_byte:.4f} "
            f"({row.minutes:.1f} min)",
            flush=True,
        )

    try:
        tok = train_tokenizer(recipe.shape.vocab_size)
        rows = sweep(
            args.variant, recipe, args.sweep, steps, tok, out, None, bar.update, row_done, control
        )
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.close()
    if rows is None:
        print("train: sweep stopped; the same command continues it", file=sys.stderr)
        return 130
    print(table(rows))
    print(f"best peak LR for {args.variant}: {best(rows).lr:g}")
    return 0


class ProgressBar:
    """One self-overwriting line on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, enabled: bool = True, width: int = 24) -> None:
        self.enabled, self.width = enabled, width
        self.tty = sys.stderr.isatty()
        self.t0 = time.perf_counter()
        self.last_print = 0.0
        self.first_step: int | None = None

    def update(self, ev) -> None:
        if self.first_step is None:
            self.first_step = ev.step - 1
        now = time.perf_counter()
        done = ev.step - self.first_step
        eta = (now - self.t0) / done * (ev.steps - ev.step)
        fill = int(self.width * ev.step / ev.steps)
        line = (
            f"[{'#' * fill}{'.' * (self.width - fill)}] {ev.step}/{ev.steps} loss {ev.loss:.3f} "
            f"lr {ev.lr:.2e} {ev.tokens_per_s / 1e3:.1f}k tok/s "
            f"ETA {int(eta) // 60}:{int(eta) % 60:02d}"
        )
        if ev.eval_loss is not None:
            print(
                ("\r" if self.tty else "") + line + f" | held-out loss {ev.eval_loss:.3f}",
                file=sys.stderr,
            )
        elif self.enabled and (self.tty or now - self.last_print > 10 or ev.step == ev.steps):
            print(
                ("\r" + line) if self.tty else line,
                end="" if self.tty else "\n",
                file=sys.stderr,
                flush=True,
            )
            self.last_print = now

    def close(self) -> None:
        if self.tty and self.enabled:
            print(file=sys.stderr)
