"""The QAT lab: the vanilla, the 1-bit and the b1.58 twin trained side by side, in turn.

The trainers share one tokenizer and one tokenized corpus (built once), the same recipe and
seed; each trains at its own peak LR (``PEAK_LR["lab"]``, from a sweep at the lab's size:
binary and ternary weights want larger LRs than float ones), so their curves differ by the
linear layers and each variant is shown at its best. ``QatLab.run`` steps the twins round by
round on one thread and checks the shared ``Control`` (pause, stop) between rounds, so a
paused or stopped lab has every twin at the same step. ``measure_round`` times one round on
this machine, for the expected time shown before a run starts. Qt-free: the app drives it
from a worker thread and plots the ``StepEvent``s.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import replace

import torch

from bitnet_studio.train.data import TokenData
from bitnet_studio.train.model import VARIANTS, TinyLM
from bitnet_studio.train.recipe import LAB, PEAK_LR, Recipe
from bitnet_studio.train.tokenizer import train_tokenizer
from bitnet_studio.train.trainer import Control, StepEvent, Trainer


class QatLab:
    def __init__(
        self,
        recipe: Recipe = LAB,
        steps: int | None = None,
        seed: int | None = None,
        lrs: dict[str, float] | None = None,
    ):
        if steps is not None:
            recipe = replace(recipe, steps=steps)
        if seed is not None:
            recipe = replace(recipe, seed=seed)
        self.recipe = recipe
        self.lrs = dict(PEAK_LR["lab"] if lrs is None else lrs)
        tokenizer = train_tokenizer(recipe.shape.vocab_size)
        data = TokenData.from_corpus(tokenizer)
        self.trainers = {
            v: Trainer(v, replace(recipe, lr=self.lrs[v]), tokenizer, data) for v in VARIANTS
        }

    @property
    def step(self) -> int:
        return min(t.step for t in self.trainers.values())

    def run(
        self,
        on_event: Callable[[StepEvent], None] | None = None,
        control: Control | None = None,
    ) -> bool:
        """Steps the twins round by round up to ``recipe.steps``; True when all finished."""
        control = control or Control()
        while self.step < self.recipe.steps:
            if not control.proceed():
                return False
            for trainer in self.trainers.values():
                ev = trainer.train_step()
                if on_event:
                    on_event(ev)
        return True


def measure_round(
    recipe: Recipe = LAB, reps: int = 3, cancelled: Callable[[], bool] = lambda: False
) -> float | None:
    """Seconds for one round (one training step of each twin) at ``recipe``'s size and dtype
    on this machine: the median of ``reps`` timed rounds after a warm-up round, random tokens
    (the cost does not depend on which). None when ``cancelled()`` turned true meanwhile."""
    s = recipe.shape
    gen = torch.Generator().manual_seed(0)
    batch = torch.randint(0, s.vocab_size, (recipe.batch_size, s.context + 1), generator=gen)
    steps = []
    for v in VARIANTS:
        model = TinyLM(s, v)
        opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr)

        def step(model: TinyLM = model, opt: torch.optim.Optimizer = opt) -> None:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe.bf16):
                logits = model(batch[:, :-1])
            loss = torch.nn.functional.cross_entropy(
                logits.float().reshape(-1, s.vocab_size), batch[:, 1:].reshape(-1)
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        steps.append(step)
    times = []
    for i in range(reps + 1):  # round 0 warms up (first-call allocations)
        t0 = time.perf_counter()
        for step in steps:
            if cancelled():
                return None
            step()
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def expected_seconds(recipe: Recipe, round_s: float) -> float:
    """A run's expected training time from one measured round: the steps, plus the periodic
    held-out evaluations (forward passes only, about a third of a training step's work per
    token, for each twin)."""
    evals = recipe.steps // recipe.eval_every if recipe.eval_every else 0
    eval_rounds = evals * recipe.eval_tokens / recipe.tokens_per_step / 3
    return (recipe.steps + eval_rounds) * round_s
