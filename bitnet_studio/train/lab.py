"""The QAT lab: the vanilla and the b1.58 twin trained side by side, one step each in turn.

Both trainers share one tokenizer and one tokenized corpus (built once), the same recipe and
seed, so their loss curves differ only by the linear layers. ``QatLab.run`` interleaves their
steps, so both curves advance together on one thread, and honours a shared ``Control`` (pause,
stop). Qt-free: the app drives it from a worker thread and plots the ``StepEvent``s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from bitnet_studio.train.data import TokenData
from bitnet_studio.train.model import VARIANTS
from bitnet_studio.train.recipe import LAB, Recipe
from bitnet_studio.train.tokenizer import train_tokenizer
from bitnet_studio.train.trainer import Control, StepEvent, Trainer


class QatLab:
    def __init__(self, recipe: Recipe = LAB, steps: int | None = None, seed: int | None = None):
        if steps is not None:
            recipe = replace(recipe, steps=steps)
        if seed is not None:
            recipe = replace(recipe, seed=seed)
        self.recipe = recipe
        tokenizer = train_tokenizer(recipe.shape.vocab_size)
        data = TokenData.from_corpus(tokenizer)
        self.trainers = {v: Trainer(v, recipe, tokenizer, data) for v in VARIANTS}

    @property
    def step(self) -> int:
        return min(t.step for t in self.trainers.values())

    def run(
        self,
        on_event: Callable[[StepEvent], None] | None = None,
        control: Control | None = None,
    ) -> bool:
        """Steps both twins in turn up to ``recipe.steps``; True when both finished."""
        control = control or Control()
        while self.step < self.recipe.steps:
            for trainer in self.trainers.values():
                if not control.proceed():
                    return False
                ev = trainer.train_step()
                if on_event:
                    on_event(ev)
        return True
