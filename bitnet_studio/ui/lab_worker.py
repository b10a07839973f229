"""The QAT lab's worker side, free of Qt: the run function, its control and event sink, and
the status figures the page shows.

``bitnet_studio.train`` imports PyTorch (seconds), so every import of it here is deferred to
the first call, which the page makes on a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bitnet_studio.ui.event_sink import EventSink

if TYPE_CHECKING:
    from bitnet_studio.train.recipe import Recipe
    from bitnet_studio.train.trainer import Control, StepEvent


def load_recipe(_progress: Callable[[Any], None], _cancel: Callable[[], bool]) -> Recipe:
    """The lab's default recipe (``train.recipe.LAB``); imports PyTorch."""
    from bitnet_studio.train.lab import LAB

    return LAB


def lab_lrs() -> dict[str, float]:
    """Each twin's peak LR in the lab (``train.recipe.PEAK_LR["lab"]``); imports PyTorch."""
    from bitnet_studio.train.recipe import PEAK_LR

    return dict(PEAK_LR["lab"])


def measure_round(
    _progress: Callable[[Any], None], cancel: Callable[[], bool], recipe: Recipe
) -> float | None:
    """Worker body: seconds for one round of the three twins' steps on this machine (None
    when cancelled)."""
    from bitnet_studio.train.lab import measure_round

    return measure_round(recipe, cancelled=cancel)


def expected_seconds(recipe: Recipe, round_s: float) -> float:
    from bitnet_studio.train.lab import expected_seconds

    return expected_seconds(recipe, round_s)


def make_control() -> Control:
    """The trainer's ``Control`` (pause, resume, stop); ``run_lab`` adds its worker's cancel
    flag, so a cancelled worker stops even while paused (``workers.join_all`` knows nothing of
    pause)."""
    from bitnet_studio.train.trainer import Control

    return Control()


def run_lab(
    progress: Callable[[Any], None],
    cancel: Callable[[], bool],
    recipe: Recipe,
    control: Control,
    sink: EventSink[StepEvent],
    lrs: dict[str, float] | None = None,
) -> bool:
    """Worker body: build the twins, train them in turn; True when all finished."""
    from bitnet_studio.train.lab import QatLab

    control.cancelled = cancel
    progress("building the tokenizer and tokenizing the corpus…")
    lab = QatLab(recipe, lrs=lrs)
    progress("training…")
    return lab.run(sink.push, control)


def clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


class LabStatus:
    """The latest step of each twin, their smoothed speed, and one status line each."""

    def __init__(self) -> None:
        self.last: dict[str, StepEvent] = {}
        self.tps: dict[str, float] = {}

    def add(self, ev: StepEvent) -> None:
        self.last[ev.variant] = ev
        prev = self.tps.get(ev.variant)
        self.tps[ev.variant] = (
            ev.tokens_per_s if prev is None else 0.8 * prev + 0.2 * ev.tokens_per_s
        )

    def step(self) -> int:
        """Steps every twin has done."""
        return min((ev.step for ev in self.last.values()), default=0)

    def line(self, variant: str, heldout: list[tuple[int, float]], eta: bool = True) -> str:
        """``step 12/300 · loss 5.123 · held-out 5.2 (step 10) · 9.8k tok/s · ETA 0:41``;
        without the ETA when the run is not moving (``eta=False``: paused, stopped)."""
        ev = self.last.get(variant)
        if ev is None:
            return "–"
        parts = [f"step {ev.step}/{ev.steps}", f"loss {ev.loss:.3f}"]
        if heldout:
            parts.append(f"held-out {heldout[-1][1]:.3f} (step {heldout[-1][0]})")
        tps = self.tps[variant]
        parts.append(f"{tps / 1000:.1f}k tok/s" if tps >= 1000 else f"{tps:.0f} tok/s")
        if eta and ev.step < ev.steps:
            # The twins step in turn: the time left is the steps left times one round of both.
            per_round = sum(e.tokens_seen / e.step / self.tps[v] for v, e in self.last.items())
            parts.append(f"ETA {clock((ev.steps - ev.step) * per_round)}")
        return " · ".join(parts)
