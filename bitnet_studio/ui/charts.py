"""Small pyqtgraph charts shared by the Inspect and Measure pages.

* :class:`HistogramPlot` -- a float histogram (bars over bin edges) or the three ternary
  spikes with the share of -1, 0, +1 written on them;
* :class:`BarChart` -- grouped bars over named categories, one colour per series.

Both keep the numbers they drew as attributes, so tests (and tooltips) can read them.
Every plot made by :func:`make_plot` follows the theme: background, axes, titles, labels,
legends and text items take ``theme.plot_colors()`` now and again after each switch.
"""

from __future__ import annotations

import hashlib
import html
import weakref
from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from bitnet_studio.ui.theme import on_theme_change, plot_colors

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def color_for(name: str, taken: Collection[str] = ()) -> str:
    """A model's colour, the same in every session: picked by a hash of its name (a default
    model's name or its file), moving on to the next colour only if ``taken`` holds it."""
    start = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") % len(PALETTE)
    for k in range(len(PALETTE)):
        c = PALETTE[(start + k) % len(PALETTE)]
        if c not in taken:
            return c
    return PALETTE[start]


def _alert_pen() -> pg.QtGui.QPen:
    return pg.mkPen(plot_colors().alert, width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine)


def reference_line(value: float, label: str, position: float) -> pg.InfiniteLine:
    """A labelled horizontal dashed line in the theme's alert colour (a measured bandwidth,
    a target)."""
    return pg.InfiniteLine(
        pos=value,
        angle=0,
        pen=_alert_pen(),
        label=label,
        labelOpts={"position": position, "color": plot_colors().alert, "anchors": [(0, 1), (0, 1)]},
    )


_PLOTS: weakref.WeakSet[pg.PlotWidget] = weakref.WeakSet()
TITLE_SIZE = "10pt"


def make_plot(
    title: str, left: str = "", bottom: str = "", left_units: str | None = None
) -> pg.PlotWidget:
    """A plot in the theme's colours with a small title and labelled axes (``left_units``:
    SI units the left axis scales with a prefix, e.g. "B" -> kB, MB)."""
    w = pg.PlotWidget()
    w.plot_texts = {"title": title, "left": (left, left_units), "bottom": (bottom, None)}
    item = w.getPlotItem()
    item.showGrid(x=False, y=True, alpha=0.2)
    w.setMinimumSize(220, 160)
    _PLOTS.add(w)
    restyle(w)
    # Once more when the caller is done building it: a legend or text item it adds now
    # (with its own colours) takes the theme's too.
    ref = weakref.ref(w)
    QTimer.singleShot(0, lambda: _restyle_if_alive(ref))
    return w


def _restyle_if_alive(ref: weakref.ref[pg.PlotWidget]) -> None:
    w = ref()
    if w is not None and shiboken6.isValid(w):
        restyle(w)


def set_title(w: pg.PlotWidget, title: str) -> None:
    """Sets a plot's title in the theme's text colour (kept through theme switches)."""
    w.plot_texts["title"] = title
    w.setTitle(title, color=plot_colors().text, size=TITLE_SIZE)


def set_axis_label(w: pg.PlotWidget, side: str, text: str, units: str | None = None) -> None:
    """Sets an axis label in the theme's text colour (kept through theme switches)."""
    w.plot_texts[side] = (text, units)
    w.getPlotItem().setLabel(side, text, units=units, color=plot_colors().text)


def restyle(w: pg.PlotWidget) -> None:
    """Paints one plot in the current theme: background, axes, texts, legend, text items,
    reference lines."""
    c = plot_colors()
    item = w.getPlotItem()
    w.setBackground(c.background)
    w.setTitle(w.plot_texts["title"], color=c.text, size=TITLE_SIZE)
    for side in ("left", "bottom"):
        axis = item.getAxis(side)
        axis.setPen(c.axis)
        axis.setTextPen(c.text)
        text, units = w.plot_texts[side]
        if text:
            item.setLabel(side, text, units=units, color=c.text)
    legend = item.legend
    if legend is not None:
        legend.setLabelTextColor(c.text)
        for _sample, label in legend.items:
            label.setText(label.text)  # re-rendered in the colour just set
    for it in item.items:
        role = getattr(it, "theme_pen", None)  # (PlotColors field, width, style)
        if role is not None:
            it.setPen(pg.mkPen(getattr(c, role[0]), width=role[1], style=role[2]))
        if isinstance(it, pg.InfiniteLine) and getattr(it, "label", None) is not None:
            it.setPen(_alert_pen())
            it.label.setColor(c.alert)
        elif isinstance(it, pg.TextItem):
            it.setColor(c.text)


def restyle_all() -> None:
    for w in list(_PLOTS):
        if shiboken6.isValid(w):
            restyle(w)


on_theme_change(restyle_all)


def legend_label() -> QLabel:
    """A legend as a line of text under a plot (it never covers what the plot draws)."""
    label = QLabel("")
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.hide()
    return label


def set_legend(label: QLabel, entries: Sequence[tuple[str, str]]) -> None:
    """Fills a :func:`legend_label` with (name, colour) swatches; hidden when empty."""
    label.setText(
        "&nbsp;&nbsp;&nbsp; ".join(
            f"<span style='color:{c}'>&#9632;</span>&nbsp;{html.escape(name)}"
            for name, c in entries
        )
    )
    label.setVisible(bool(entries))


class HistogramPlot(QWidget):
    """One histogram; :meth:`show_histogram` replaces what it draws (``ternary``: spikes at
    the codes, three for ternary counts, two for 1-bit ones).

    ``counts``/``edges`` hold the data drawn; the bars' heights are percent of all values.
    """

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = make_plot(title, "% of values", "value")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)
        self._bars = pg.BarGraphItem(x0=[], x1=[], height=[], brush=color(0), pen=None)
        self.plot.addItem(self._bars)
        self._labels = [pg.TextItem(anchor=(0.5, 1.0), color=plot_colors().text) for _ in range(3)]
        for t in self._labels:
            self.plot.addItem(t)
            t.hide()
        self.counts = np.zeros(0, np.int64)
        self.edges = np.zeros(0)
        self.ternary = False

    def show_histogram(self, counts: np.ndarray, edges: np.ndarray, ternary: bool) -> None:
        counts = np.asarray(counts, np.int64)
        edges = np.asarray(edges, np.float64)
        self.counts, self.edges, self.ternary = counts, edges, ternary
        share = 100.0 * counts / max(1, int(counts.sum()))
        x0, x1 = edges[:-1], edges[1:]
        codes = ("-1", "+1") if len(counts) == 2 else ("-1", "0", "+1")  # 1-bit: two spikes
        if ternary:  # spikes with a gap between them
            pad = (0.25 if len(counts) == 2 else 0.15) * (x1 - x0)
            x0, x1 = x0 + pad, x1 - pad
        brush = color(1) if ternary else color(0)
        self._bars.setOpts(x0=x0, x1=x1, height=share, brush=brush, pen=None)
        for i, t in enumerate(self._labels):
            if ternary and i < len(share):
                code = codes[i]
                t.setHtml(f"<div align='center'>{code}<br>{share[i]:.1f}%</div>")
                t.textItem.setTextWidth(58)
                t.setPos(float((edges[i] + edges[i + 1]) / 2), float(share[i]))
                t.show()
            else:
                t.hide()
        item = self.plot.getPlotItem()
        top = float(share.max()) if share.size else 1.0
        item.setYRange(0, top * (1.3 if ternary else 1.05), padding=0)
        if edges.size:
            item.setXRange(float(edges[0]), float(edges[-1]), padding=0.02)

    def clear(self) -> None:
        self.show_histogram(np.zeros(0, np.int64), np.zeros(1), False)


MAX_LABELLED_BARS = 12  # up to this many bars each get their value written above them


class BarChart(QWidget):
    """Grouped bars: ``categories`` along x, one bar per series in each group.

    ``values`` holds what was drawn (series -> list aligned with ``categories``, NaN for a
    missing bar). ``hline`` draws horizontal reference lines (e.g. a bandwidth roof).
    """

    def __init__(
        self,
        title: str,
        left: str = "",
        left_units: str | None = None,
        value_format: Callable[[float], str] = "{:.3g}".format,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.plot = make_plot(title, left, "", left_units)
        self.value_format = value_format  # a single series gets its values written on it
        self.legend = legend_label()  # under the plot: an in-plot legend covers bars
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)
        lay.addWidget(self.legend)
        self._items: list[pg.GraphicsObject] = []
        self.categories: list[str] = []
        self.values: dict[str, list[float]] = {}

    def set_data(
        self,
        categories: Sequence[str],
        series: Mapping[str, Sequence[float]],
        hlines: Mapping[str, float] | None = None,
    ) -> None:
        """Redraws (results arrive rarely, so the items are rebuilt; live plots do not)."""
        item = self.plot.getPlotItem()
        for it in self._items:
            item.removeItem(it)
        self._items.clear()
        self.categories = list(categories)
        self.values = {k: [float(v) for v in vs] for k, vs in series.items()}
        n = max(1, len(self.values))
        width = 0.8 / n
        n_bars = sum(int(np.isfinite(np.asarray(v)).sum()) for v in self.values.values())
        top = 0.0
        for j, vals in enumerate(self.values.values()):
            y = np.asarray(vals, np.float64)
            ok = np.isfinite(y)
            x = np.arange(len(y)) - 0.4 + width * (j + 0.5)
            bars = pg.BarGraphItem(
                x=x[ok], height=y[ok], width=width * 0.92, brush=color(j), pen=None
            )
            item.addItem(bars)
            self._items.append(bars)
            if n_bars <= MAX_LABELLED_BARS:  # a short bar stays readable by its number
                for xi, yi in zip(x[ok], y[ok], strict=True):
                    text = pg.TextItem(
                        self.value_format(yi), color=plot_colors().text, anchor=(0.5, 1)
                    )
                    text.setPos(float(xi), float(yi))
                    item.addItem(text)
                    self._items.append(text)
            top = max(top, float(np.max(y[ok], initial=0.0)))
        for k, (label, v) in enumerate((hlines or {}).items()):
            line = reference_line(v, label, 0.1 + 0.25 * k)
            item.addItem(line)
            self._items.append(line)
            top = max(top, float(v))
        named = [k for k in self.values if k]
        set_legend(self.legend, [(k, color(j)) for j, k in enumerate(self.values) if k in named])
        ticks = [(i, c) for i, c in enumerate(self.categories)]
        item.getAxis("bottom").setTicks([ticks])
        item.setXRange(-0.6, max(0.6, len(self.categories) - 0.4), padding=0)
        item.setYRange(0, top * 1.15 if top > 0 else 1.0, padding=0)
