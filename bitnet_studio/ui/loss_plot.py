"""The QAT lab's chart: training loss of the three twins as they train, and their held-out loss.

Per variant: every step's loss as faint dots, a smoothed line over them (a centred moving
average: an exponential one would lag the steep first steps by its window), and the held-out
loss as diamonds where it was measured. The arrays are allocated once per run (``reset(steps)``);
``add`` only writes into them and ``redraw`` hands the curves views of the filled part, so a
timer can call it at ~10 Hz without anything growing (the pyqtgraph ``scrollingPlots`` way).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from bitnet_studio.ui.charts import color, make_plot

# variant -> legend label
VARIANT_LABELS = {
    "vanilla": "vanilla",
    "bitnet": "BitNet (1-bit QAT)",
    "b158": "b1.58 (ternary QAT)",
}
# variant -> palette index: vanilla and ternary keep Compare's and Inspect's first two colours
VARIANT_COLORS = {"vanilla": 0, "b158": 1, "bitnet": 2}


def variant_color(variant: str) -> str:
    return color(VARIANT_COLORS[variant])


def smooth(values: np.ndarray, half: int) -> np.ndarray:
    """Centred moving average over ``i - h .. i + h``, ``h = min(half, i, n - 1 - i)``: the
    window narrows symmetrically at both ends, so a straight line stays put everywhere and a
    short run is not flattened into its mean (the newest point is its own value)."""
    n = len(values)
    c = np.concatenate([[0.0], np.cumsum(values)])
    i = np.arange(n)
    h = np.minimum(np.minimum(half, i), n - 1 - i)
    return (c[i + h + 1] - c[i - h]) / (2 * h + 1)


@dataclass
class LossSeries:
    """One variant's numbers: ``n`` steps filled in the preallocated arrays."""

    steps: np.ndarray
    loss: np.ndarray
    heldout: list[tuple[int, float]] = field(default_factory=list)
    n: int = 0

    @classmethod
    def empty(cls, capacity: int) -> LossSeries:
        return cls(np.zeros(capacity), np.full(capacity, np.nan))

    def add(self, step: int, loss: float, eval_loss: float | None) -> None:
        if self.n >= len(self.loss):
            return  # more steps than announced: keep what fits
        self.steps[self.n], self.loss[self.n] = step, loss
        self.n += 1
        if eval_loss is not None:
            self.heldout.append((step, eval_loss))


@dataclass
class _Items:
    raw: pg.PlotDataItem
    line: pg.PlotDataItem
    heldout: pg.PlotDataItem


class LossPlot(QWidget):
    """The twins' loss curves; ``series[variant]`` holds what is drawn."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = make_plot(
            "loss per step (dots), smoothed (line), held-out (◆)", "loss (nats/token)", "step"
        )
        item = self.plot.getPlotItem()
        item.addLegend(offset=(-10, 10), labelTextColor="#222")
        item.enableAutoRange(axis="y")
        item.setAutoVisible(y=True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)
        self.items: dict[str, _Items] = {}
        for variant, label in VARIANT_LABELS.items():
            c = variant_color(variant)
            raw = self.plot.plot(
                [], [], pen=None, symbol="o", symbolSize=4, symbolPen=None, symbolBrush=c + "80"
            )
            line = self.plot.plot([], [], pen=pg.mkPen(c, width=2.5), name=label)
            held = self.plot.plot(
                [],
                [],
                pen=pg.mkPen(c, width=1, style=pg.QtCore.Qt.PenStyle.DashLine),
                symbol="d",
                symbolSize=11,
                symbolBrush=c,
                symbolPen=pg.mkPen("#222", width=1),
                name=f"{label}, held-out",
            )
            self.items[variant] = _Items(raw, line, held)
        self.series: dict[str, LossSeries] = {}
        self.half_window = 3
        self.reset(1)

    def reset(self, steps: int) -> None:
        """Empties every series for a run of ``steps`` steps (the x axis spans them)."""
        self.series = {v: LossSeries.empty(max(1, steps)) for v in VARIANT_LABELS}
        self.half_window = max(4, steps // 25)
        self.plot.getPlotItem().setXRange(0, max(1, steps), padding=0.02)
        self.redraw()

    def add(self, variant: str, step: int, loss: float, eval_loss: float | None = None) -> None:
        s = self.series.get(variant)
        if s is not None:
            s.add(step, loss, eval_loss)

    def redraw(self) -> None:
        for variant, s in self.series.items():
            it = self.items[variant]
            x = s.steps[: s.n]
            it.raw.setData(x, s.loss[: s.n])
            it.line.setData(x, smooth(s.loss[: s.n], self.half_window))
            held = np.asarray(s.heldout, np.float64).reshape(-1, 2)
            it.heldout.setData(held[:, 0], held[:, 1])
