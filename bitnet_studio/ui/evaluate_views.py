"""The Evaluate page's views: the results table, quality vs size, and the delta-loss text.

* :class:`ResultsTable` -- one row per model (quality, size, cost); the energy column is an
  estimate and says so in its header and tooltips;
* :class:`QualitySizeChart` -- perplexity (log) against weight MB, one point per model,
  twins (same shapes and tokenizer) joined by a line;
* :class:`DeltaLossView` -- the text, each token shaded by how much harder it got for the
  chosen model than for the reference (loss difference, nats); hovering shows both models'
  top tokens there.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem, QWidget

from bitnet_studio.evaluate.cost import ENERGY_SOURCE
from bitnet_studio.evaluate.report import row
from bitnet_studio.evaluate.run import EvalReport, ModelResult, delta_loss
from bitnet_studio.ui.charts import color, make_plot
from bitnet_studio.ui.token_view import TokenView

HEADERS = (
    "model",
    "format",
    "bits/weight",
    "MB",
    "perplexity",
    "bits/byte",
    "KL mean",
    "KL p99",
    "top-1 agree",
    "decode tok/s",
    "energy/token (estimate, 7 nm)",
)
WORSE = QColor(214, 39, 40)  # the model found the token harder than the reference did
BETTER = QColor(31, 119, 180)
MAX_VIEW_TOKENS = 4000  # the token view shows the first tokens only (a QTextEdit per token)


def _fmt(v: float | None, spec: str, suffix: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec) + suffix


class ResultsTable(QTableWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(HEADERS), parent)
        self.setHorizontalHeaderLabels(list(HEADERS))
        self.horizontalHeaderItem(len(HEADERS) - 1).setToolTip(ENERGY_SOURCE)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)

    def show_report(self, rep: EvalReport, speeds: dict[str, float]) -> None:
        self.setRowCount(len(rep.results))
        for i, r in enumerate(rep.results):
            d = row(r)
            tps = r.decode_tps or speeds.get(r.name)
            c = r.cost
            cells = (
                r.label if r.label == r.name else f"{r.label}  [{r.name}]",
                f"{r.format} ({r.backend})",
                f"{r.bits_per_weight:.2f}",
                f"{r.weight_mb:.1f}",
                fmt_ppl(r.perplexity) if math.isfinite(r.perplexity) else "-",
                _fmt(r.bits_per_byte, ".4f"),
                _fmt(r.kl_mean, ".4f"),
                _fmt(r.kl_p99, ".3f"),
                _fmt(None if r.top1_agreement is None else 100 * r.top1_agreement, ".1f", "%"),
                _fmt(tps, ".1f"),
                f"~{c.energy_pj_7nm / 1e6:.2f} µJ (est.)",
            )
            tip = (
                f"{r.tokens} tokens scored in {r.seconds:.1f} s\n"
                f"per decoded token at context {c.context}: weights read "
                f"{d['weight_mb_read_per_token']:.2f} MB, KV cache {d['kv_mb']:.2f} MB,\n"
                f"{c.float_macs:,} float multiply-adds, {c.int_adds:,} integer additions;\n"
                f"estimated arithmetic energy {c.energy_pj_7nm / 1e6:.3f} µJ (7 nm), "
                f"{c.energy_pj_45nm / 1e6:.3f} µJ (45 nm)\n{ENERGY_SOURCE}"
            )
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                self.setItem(i, j, item)
        self.resizeColumnsToContents()

    def cell_text(self, row_i: int, header: str) -> str:
        item = self.item(row_i, HEADERS.index(header))
        return item.text() if item is not None else ""


def twin_groups(rep: EvalReport) -> list[list[ModelResult]]:
    """Models with the same tokenizer group and the same shapes: a vanilla model and its
    low-bit twins. Each group is sorted by size."""
    groups: dict[tuple, list[ModelResult]] = {}
    for r in rep.results:
        groups.setdefault((r.group, r.shape_key), []).append(r)
    return [sorted(g, key=lambda r: r.weight_mb) for g in groups.values()]


class QualitySizeChart(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from PySide6.QtWidgets import QVBoxLayout

        self.plot = make_plot("Quality vs size", "perplexity (log)", "weight MB (log)")
        self.plot.getPlotItem().setLogMode(x=True, y=True)
        self.points: list[tuple[str, float, float]] = []  # (model, MB, perplexity)
        self.lines: list[list[str]] = []  # twins joined
        QVBoxLayout(self).addWidget(self.plot)

    def show_report(self, rep: EvalReport) -> None:
        item = self.plot.getPlotItem()
        item.clear()
        self.points, self.lines = [], []
        groups = [
            [r for r in g if math.isfinite(r.perplexity) and r.perplexity > 0]
            for g in twin_groups(rep)
        ]
        for gi, ok in enumerate(groups):
            xs = np.array([r.weight_mb for r in ok], dtype=np.float64)
            ys = np.array([r.perplexity for r in ok], dtype=np.float64)  # the axes take logs
            pen = pg.mkPen(color(gi), width=2) if len(ok) > 1 else None
            item.addItem(
                pg.PlotDataItem(xs, ys, pen=pen, symbol="o", symbolSize=10, symbolBrush=color(gi))
            )
            if len(ok) > 1:
                self.lines.append([r.name for r in ok])
            self.points += [(r.name, r.weight_mb, r.perplexity) for r in ok]
            for i, r in enumerate(ok):  # labels alternate above and below along a twin line
                label = pg.TextItem(
                    f"{r.label.replace(', ', chr(10))}\nppl {fmt_ppl(r.perplexity)}",
                    color=color(gi),
                    anchor=(0.5, 1.1) if i % 2 else (0.5, -0.1),
                )
                label.setPos(math.log10(r.weight_mb), math.log10(r.perplexity))  # view coords
                item.addItem(label)
        if self.points:
            lx = [math.log10(p[1]) for p in self.points]
            ly = [math.log10(p[2]) for p in self.points]
            item.setXRange(min(lx) - 0.6, max(lx) + 0.6)  # room for centred labels
            item.setYRange(min(ly) - 0.6, max(ly) + 0.6)


def fmt_ppl(v: float) -> str:
    return f"{v:.2f}" if v < 1e5 else f"{v:.3g}"


class DeltaLossView(TokenView):
    """The scored text of one tokenizer group, shaded by the chosen model's delta loss."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.deltas = np.zeros(0)
        self.ranges: list[tuple[int, int]] = []  # document range of each shown token

    def show_delta(self, rep: EvalReport, model: str) -> np.ndarray:
        """Shows the text shaded by ``delta_loss(rep, model)``; returns the deltas shown."""
        self.clear()
        self.ranges = []
        d = delta_loss(rep, model)
        ref, m = rep.result(rep.reference or ""), rep.result(model)
        dec = rep.decoders[m.group]
        n = min(d.size, MAX_VIEW_TOKENS)
        self.deltas = d[:n]
        scale = max(1e-9, float(np.percentile(np.abs(d), 95))) if d.size else 1.0
        base = self.palette().base().color()
        c = self.textCursor()
        for i in range(n):
            fmt = QTextCharFormat()
            t = max(-1.0, min(1.0, float(d[i]) / scale))
            bg = _blend(base, WORSE if t > 0 else BETTER, 0.75 * abs(t))
            fmt.setBackground(bg)
            fmt.setForeground(QColor("#000") if bg.lightnessF() > 0.55 else QColor("#fff"))
            fmt.setToolTip(self._tip(i, d, ref, m, dec))
            start = c.position()
            c.insertText(dec(int(m.scores.targets[i])), fmt)
            self.ranges.append((start, c.position()))
        c.movePosition(QTextCursor.MoveOperation.Start)
        self.setTextCursor(c)
        return self.deltas

    @staticmethod
    def _tip(i: int, d: np.ndarray, ref: ModelResult, m: ModelResult, dec: Any) -> str:
        def tops(r: ModelResult) -> str:
            ids, ps = r.scores.top_ids[i], r.scores.top_p[i]
            return ", ".join(f"{dec(int(t))!r} {p:.0%}" for t, p in zip(ids, ps, strict=True))

        tok = dec(int(m.scores.targets[i]))
        return (
            f"{tok!r}: loss {m.scores.nll[i]:.2f} vs reference {ref.scores.nll[i]:.2f} nats "
            f"(delta {d[i]:+.2f})\n{m.name}: {tops(m)}\n{ref.name}: {tops(ref)}"
        )


def _blend(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(
        int(a.red() + (b.red() - a.red()) * t),
        int(a.green() + (b.green() - a.green()) * t),
        int(a.blue() + (b.blue() - a.blue()) * t),
    )
