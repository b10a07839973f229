"""The Inspect page's parts: tensor tree, statistics box, tile heat map, depth plots."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from bitnet_studio.inspect.stats import TensorStats
from bitnet_studio.inspect.views import PROJECTIONS, DepthProfile
from bitnet_studio.models.weights import BinaryTensor, ModelWeights, TernaryTensor
from bitnet_studio.ui.charts import color, make_plot, set_axis_label, set_title

NAME_ROLE = Qt.ItemDataRole.UserRole


class TensorTree(QTreeWidget):
    """A model's tensors grouped as ``model`` / ``layer i``; each leaf carries its full name
    in ``NAME_ROLE``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(["tensor", "shape", "type"])
        self.setColumnWidth(0, 190)
        self.setColumnWidth(1, 80)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self._items: dict[str, QTreeWidgetItem] = {}

    def populate(self, model: ModelWeights, groups: list[tuple[str, list[str]]]) -> None:
        self.clear()
        self._items.clear()
        for group, names in groups:
            top = QTreeWidgetItem([group, "", ""])
            top.setFlags(top.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            self.addTopLevelItem(top)
            prefix = "" if group == "model" else names[0].split(".", 2)[0] + "."
            for name in names:
                t = model.tensors[name]
                short = name.split(".", 2)[2] if prefix and name.count(".") >= 2 else name
                shape = "x".join(map(str, t.shape))
                quantized = isinstance(t, TernaryTensor | BinaryTensor)
                kind = t.source_type if quantized else str(t.dtype)
                kind = model.tensor_types.get(name, kind)
                leaf = QTreeWidgetItem([short, shape, kind])
                leaf.setData(0, NAME_ROLE, name)
                leaf.setToolTip(0, name)
                top.addChild(leaf)
                self._items[name] = leaf
        if self.topLevelItemCount():
            self.topLevelItem(0).setExpanded(True)
        if self.topLevelItemCount() > 1:
            self.topLevelItem(1).setExpanded(True)

    def names(self) -> list[str]:
        return list(self._items)

    def select(self, name: str) -> None:
        item = self._items.get(name)
        if item is not None:
            self.setCurrentItem(item)
            self.scrollToItem(item)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


class StatsBox(QLabel):
    """min/max/mean/std/zeros/scale of one tensor as a small table."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setMinimumWidth(260)  # values on one line; only a long tensor name wraps
        self.setWordWrap(True)  # a long tensor name wraps at its dots instead of being cut
        self.setText("<i>select a tensor</i>")

    def show_stats(self, s: TensorStats) -> None:
        self.setToolTip(s.name)
        rows = [
            ("shape", " x ".join(map(str, s.shape))),
            ("stored as", f"{s.stored_type} ({s.kind})"),
            ("bits / weight", f"{s.bits_per_weight:.2f}"),
            ("bytes", f"{s.nbytes:,}"),
            ("min / max", f"{_fmt(s.min)} / {_fmt(s.max)}"),
            ("mean", _fmt(s.mean)),
            ("std", _fmt(s.std)),
            ("zeros (sparsity)", f"{100 * s.zero_share:.2f}%"),
        ]
        if s.kind == "ternary":
            rows += [
                (
                    "-1 / 0 / +1",
                    f"{100 * s.neg_share:.1f}% / {100 * s.zero_share:.1f}% / "
                    f"{100 * s.pos_share:.1f}%",
                ),
                ("scale (gamma)", _fmt(s.scale)),
            ]
        if s.kind == "binary":
            rows += [
                ("-1 / +1", f"{100 * s.neg_share:.1f}% / {100 * s.pos_share:.1f}%"),
                ("scale (beta)", _fmt(s.scale)),
            ]
        cells = "".join(
            f"<tr><td style='padding-right:10px'>{k}</td><td><b>{v}</b></td></tr>" for k, v in rows
        )
        name = html.escape(s.name).replace(".", ".&#8203;")  # break opportunities
        self.setText(f"<p style='margin:0 0 4px 0'><b>{name}</b></p><table>{cells}</table>")


class TileView(QWidget):
    """A heat map of a tensor's top-left tile, on a diverging colour map centred on 0."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = make_plot("top-left tile", "row", "column")
        item = self.plot.getPlotItem()
        item.showGrid(x=False, y=False)
        item.invertY(True)
        item.setAspectLocked(True)
        self.image = pg.ImageItem()
        item.addItem(self.image)
        self.colorbar = pg.ColorBarItem(
            values=(-1, 1), colorMap=pg.colormap.get("CET-D1"), width=12, interactive=False
        )
        self.colorbar.setImageItem(self.image, insert_in=item)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)
        self.tile = np.zeros((0, 0), np.float32)

    def show_tile(self, tile: np.ndarray) -> None:
        self.tile = tile
        finite = tile[np.isfinite(tile)]
        m = float(np.max(np.abs(finite))) if finite.size else 1.0
        m = m if m > 0 else 1.0
        self.image.setImage(tile.T, autoLevels=False)  # ImageItem's first axis is x
        self.colorbar.setLevels((-m, m))
        set_title(self.plot, f"top-left tile ({tile.shape[0]} x {tile.shape[1]})")
        self.plot.getPlotItem().setRange(xRange=(0, tile.shape[1]), yRange=(0, tile.shape[0]))


class DepthPlots(QWidget):
    """Two plots along depth (one curve per projection, created once), e.g. scale and zero
    share of a ternary model, std and absmean of a float one; one legend above both."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plots = (make_plot("", "", "layer"), make_plot("", "", "layer"))
        self.curves: tuple[dict[str, pg.PlotDataItem], ...] = ({}, {})
        for p, curves in zip(self.plots, self.curves, strict=True):
            for i, proj in enumerate(PROJECTIONS):
                curves[proj] = p.plot(
                    [],
                    [],
                    pen=pg.mkPen(color(i), width=2),
                    symbol="o",
                    symbolSize=5,
                    symbolBrush=color(i),
                    symbolPen=None,
                )
        self.legend = QLabel(
            "&nbsp;&nbsp;".join(
                f"<span style='color:{color(i)}'>&#9632;</span> {_short(p)}"
                for i, p in enumerate(PROJECTIONS)
            )
        )
        self.legend.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay = QGridLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.legend, 0, 0, 1, 2)
        lay.addWidget(self.plots[0], 1, 0)
        lay.addWidget(self.plots[1], 1, 1)
        self.profile: DepthProfile | None = None

    def show_profile(self, profile: DepthProfile) -> None:
        self.profile = profile
        for k, (p, curves, data) in enumerate(
            zip(self.plots, self.curves, (profile.first, profile.second), strict=True)
        ):
            name = profile.metrics[k]
            percent = name.endswith("share")  # drawn in %, kept as a fraction
            set_title(p, f"{name} along depth ({profile.kind})")
            set_axis_label(p, "left", f"{name} (%)" if percent else name)
            for proj, curve in curves.items():
                y = data.get(proj)
                if y is None:
                    curve.setData([], [])
                else:
                    curve.setData(profile.layers, 100 * y if percent else y, connect="finite")
            p.getPlotItem().enableAutoRange()


def _short(projection: str) -> str:
    return projection.split(".")[1].removesuffix("_proj")
