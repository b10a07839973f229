"""The learning-rate sweep that gives each variant its own peak LR (a fair trio).

One short run per peak LR -- the recipe as it is, only ``lr`` and ``steps`` changed, so the
schedule (warmup, cosine decay) is compressed into the short run -- then the held-out loss of
the model where it ended. The lowest held-out loss picks the LR. Resumable: each LR trains in
its own folder (``OUT/<variant>-lr-<lr>``, checkpoints every 50 steps) and a finished LR's row
is kept in ``OUT/sweep.jsonl``: a stopped sweep continues where it stopped, never redoing a row.
Short runs favour large LRs (there is less time to profit from a small one): the sweep ranks
LRs, the rows say by how much.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tokenizers import Tokenizer

from bitnet_studio.train.data import TokenData
from bitnet_studio.train.model import Variant
from bitnet_studio.train.recipe import Recipe
from bitnet_studio.train.trainer import CHECKPOINT, Control, StepEvent, Trainer

RESULTS = "sweep.jsonl"
EVAL_TOKENS = 32768  # the first ~third of the held-out stream: enough to rank, 3x cheaper


@dataclass(frozen=True)
class SweepRow:
    variant: str
    lr: float
    steps: int
    train_loss: float  # mean of the last 10 steps' training loss
    heldout_loss: float  # nats per token on the first EVAL_TOKENS held-out tokens
    perplexity: float
    bits_per_byte: float
    minutes: float  # wall time of the run (training and evaluation)

    @property
    def diverged(self) -> bool:
        return not math.isfinite(self.heldout_loss)


def lr_dir(out: Path, variant: str, lr: float) -> Path:
    return out / f"{variant}-lr-{lr:g}"


def load_rows(out: Path) -> list[SweepRow]:
    path = out / RESULTS
    if not path.is_file():
        return []
    return [SweepRow(**json.loads(line)) for line in path.read_text().splitlines() if line]


def best(rows: list[SweepRow]) -> SweepRow:
    finite = [r for r in rows if not r.diverged]
    if not finite:
        raise ValueError("every LR of the sweep diverged")
    return min(finite, key=lambda r: r.heldout_loss)


def sweep(
    variant: Variant,
    recipe: Recipe,
    lrs: list[float],
    steps: int,
    tokenizer: Tokenizer,
    out: Path,
    data: TokenData | None = None,
    on_event: Callable[[StepEvent], None] | None = None,
    on_row: Callable[[SweepRow], None] | None = None,
    control: Control | None = None,
) -> list[SweepRow] | None:
    """Rows for ``lrs`` (done ones read back); None when stopped (``out`` holds where)."""
    data = data or TokenData.from_corpus(tokenizer)
    control = control or Control()
    out.mkdir(parents=True, exist_ok=True)
    done = {r.lr: r for r in load_rows(out) if r.variant == variant and r.steps == steps}
    rows: list[SweepRow] = []
    for lr in lrs:
        if lr in done:
            rows.append(done[lr])
            continue
        folder = lr_dir(out, variant, lr)
        t0 = time.perf_counter()
        if (folder / CHECKPOINT).is_file():
            trainer = Trainer.resume(folder, data)
        else:
            short = replace(
                recipe, lr=lr, steps=steps, eval_every=0, checkpoint_every=min(50, steps)
            )
            trainer = Trainer(variant, short, tokenizer, data, folder)
        if not trainer.run(on_event, control):
            return None
        result = trainer.evaluate(EVAL_TOKENS)
        tail = [h["loss"] for h in trainer.history[-10:]]
        row = SweepRow(
            variant,
            lr,
            steps,
            sum(tail) / len(tail),
            result.loss,
            result.perplexity,
            result.bits_per_byte,
            (time.perf_counter() - t0) / 60,
        )
        with (out / RESULTS).open("a") as f:
            f.write(json.dumps(asdict(row)) + "\n")
        rows.append(row)
        if on_row:
            on_row(row)
    return rows


def table(rows: list[SweepRow]) -> str:
    """A Markdown table of the rows, the best LR of each variant marked."""
    winners = {best([r for r in rows if r.variant == v]) for v in {r.variant for r in rows}}
    lines = [
        "| variant | peak LR | steps | train loss (last 10) | held-out loss | perplexity | "
        "bits/byte | minutes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        mark = " **best**" if r in winners else ""
        lines.append(
            f"| {r.variant} | {r.lr:g}{mark} | {r.steps} | {r.train_loss:.3f} | "
            f"{r.heldout_loss:.4f} | {r.perplexity:.2f} | {r.bits_per_byte:.4f} | {r.minutes:.1f} |"
        )
    return "\n".join(lines)
