"""Measure's side-by-side bars: every loaded model's bits per weight, weight bytes and last
decode speed -- e.g. the trio (vanilla, BitNet 1-bit, BitNet b1.58) in one glance.

The numbers come from each model's ``inspect.summary`` and from the live feed; the widget
only picks and draws them (redrawn at most once a second, on the GUI thread).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QWidget

from bitnet_studio.ui.charts import BarChart
from bitnet_studio.ui.model_store import ModelStore

LINEAR_KINDS = ("attention", "mlp")


def short_labels(labels: list[str]) -> list[str]:
    """Axis labels that fit under a bar: the shared ``"..., "`` prefix and any trailing
    ``" (...)"`` dropped ("Shakespeare twin, BitNet 1-bit (trained binary)" -> "BitNet
    1-bit"); the full labels stay when that would make two alike."""
    prefix = ""
    if len(labels) > 1:
        common = labels[0]
        for lab in labels[1:]:
            while not lab.startswith(common):
                common = common[:-1]
        prefix = common[: common.rfind(", ") + 2] if ", " in common else ""
    short = [lab.removeprefix(prefix).split(" (")[0].strip() or lab for lab in labels]
    short = [t if len(t) <= 22 else t[:21] + "…" for t in short]
    return short if len(set(short)) == len(short) else labels


def linear_bits_per_weight(summary: dict[str, Any]) -> float:
    """Bits per weight over the attention and MLP projections (what 1-bit / ternary change)."""
    kinds = [summary["by_kind"][k] for k in LINEAR_KINDS if k in summary["by_kind"]]
    params = sum(float(k["params"]) for k in kinds)
    return 8.0 * sum(float(k["bytes"]) for k in kinds) / params if params else float("nan")


class SideBySide(QWidget):
    """Three bar charts, one bar per loaded model (in pane order, then load order)."""

    def __init__(self, store: ModelStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.bits = BarChart("bits / weight (projections)", "bits", None, "{:.2f}".format)
        self.weights = BarChart("weights", "MB", None, "{:.2f}".format)
        self.speed = BarChart("last decode speed", "tokens/s", None, "{:.1f}".format)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for chart in (self.bits, self.weights, self.speed):
            lay.addWidget(chart)
        self._tps: dict[str, float] = {}
        self._lock = threading.Lock()
        self._dirty = True
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.refresh_if_dirty)
        self.timer.start()
        store.sig_loaded.connect(self._mark)
        store.sig_removed.connect(self._mark)
        self.refresh()

    def record(self, name: str, tokens_per_s: float) -> None:
        """Any thread: a model's latest decode speed."""
        with self._lock:
            self._tps[name] = float(tokens_per_s)
            self._dirty = True

    def _mark(self, _name: str = "") -> None:
        self._dirty = True

    def refresh_if_dirty(self) -> None:
        if self._dirty:
            self.refresh()

    def refresh(self) -> None:
        """Redraws the three charts from the store (GUI thread)."""
        self._dirty = False
        # in pane order where a pane was asked for (the trio: vanilla, 1-bit, b1.58)
        models = sorted(self.store.models(), key=lambda m: (m.slot is None, m.slot or 0))
        labels = short_labels([m.label for m in models])
        self.setToolTip("\n".join(f"{t}: {m.label}" for t, m in zip(labels, models, strict=True)))
        with self._lock:
            tps = [self._tps.get(m.name, np.nan) for m in models]
        self.bits.set_data(labels, {"": [linear_bits_per_weight(m.summary) for m in models]})
        self.weights.set_data(labels, {"": [m.summary["bytes"] / 1e6 for m in models]})
        self.speed.set_data(labels, {"": tps})
        for chart in (self.bits, self.weights, self.speed):  # room for the value on the bar
            vals = np.asarray(chart.values[""], np.float64)
            top = float(np.nanmax(vals)) if np.isfinite(vals).any() else 0.0
            chart.plot.getPlotItem().setYRange(0, top * 1.35 if top > 0 else 1.0, padding=0)

    def stop(self) -> None:
        self.timer.stop()
