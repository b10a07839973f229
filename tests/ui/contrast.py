"""Collect every text a window shows with the colours it is drawn in, for a WCAG contrast check.

Widgets: the foreground role of their palette (a style sheet's ``color`` ends up there too)
over the background they are drawn on (their own base/button colour, else the window
colour they inherit); inline ``color:`` in rich text over that background; palette pairs
that item views, tooltips and selections use; pyqtgraph plots: title, axes, tick labels,
legends, text items and reference-line labels over the plot's background; the token view's
shaded tokens and parting mark over its base.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTabBar,
    QTextEdit,
    QWidget,
)

from bitnet_studio.ui.theme import blend
from bitnet_studio.ui.token_view import TokenView, is_dark, part_color, shade

R = QPalette.ColorRole
_SPAN = re.compile(r"<span style='color:(#[0-9a-fA-F]{3,8})'>(.*?)</span>", re.S)
_INLINE = re.compile(r"color:\s*(#[0-9a-fA-F]{3,8})")
SWATCHES = {"&#9632;", "■", "&#8211;&#8211;", "––"}  # colour keys, not text


@dataclass
class Text:
    where: str
    fg: QColor
    bg: QColor


def _name(w: object) -> str:
    n = w.objectName() if isinstance(w, QWidget) else ""
    return f"{type(w).__name__}{'#' + n if n else ''}"


def _where(w: QWidget) -> str:
    path, x = [], w
    while x is not None:
        path.append(_name(x))
        x = x.parentWidget()
    return "/".join(reversed(path[:4]))


def widget_texts(w: QWidget) -> list[Text]:
    """The texts one widget draws from its palette (and inline rich-text colours)."""
    w.ensurePolished()
    pal = w.palette()
    if isinstance(w, QLineEdit | QTextEdit | QPlainTextEdit | QAbstractItemView | QAbstractSpinBox):
        fg, bg = pal.color(R.Text), pal.color(R.Base)
    elif isinstance(w, QAbstractButton | QComboBox):
        fg, bg = pal.color(R.ButtonText), pal.color(R.Button)
    elif isinstance(w, QLabel | QGroupBox | QTabBar):
        fg, bg = pal.color(w.foregroundRole()), pal.color(R.Window)
    else:
        return []
    out = [Text(_where(w), fg, bg)]
    if isinstance(w, QLabel):
        text = w.text()
        for color, content in _SPAN.findall(text):
            if content.strip() not in SWATCHES:
                out.append(Text(f"{_where(w)} span {content[:20]!r}", QColor(color), bg))
        plain = _SPAN.sub("", text)
        out += [Text(f"{_where(w)} inline", QColor(c), bg) for c in _INLINE.findall(plain)]
    return out


def palette_texts(pal: QPalette, where: str) -> list[Text]:
    pairs = (
        (R.Text, R.Base),
        (R.Text, R.AlternateBase),
        (R.WindowText, R.Window),
        (R.ButtonText, R.Button),
        (R.HighlightedText, R.Highlight),
        (R.ToolTipText, R.ToolTipBase),
        (R.PlaceholderText, R.Base),
        (R.Link, R.Base),
    )
    return [Text(f"{where} {f.name}/{b.name}", pal.color(f), pal.color(b)) for f, b in pairs]


def plot_texts(p: pg.PlotWidget) -> list[Text]:
    bg = p.backgroundBrush().color()
    item = p.getPlotItem()
    where = f"plot {item.titleLabel.text[:40]!r}"
    out: list[Text] = []
    if item.titleLabel.text:
        out.append(Text(f"{where} title", pg.mkColor(item.titleLabel.opts["color"]), bg))
    for side in ("left", "bottom"):
        axis = item.getAxis(side)
        out.append(Text(f"{where} {side} ticks", axis.textPen().color(), bg))
        if axis.labelText:
            c = axis.labelStyle.get("color")
            out.append(Text(f"{where} {side} label", pg.mkColor(c) if c else QColor(), bg))
    if item.legend is not None:
        for _sample, label in item.legend.items:
            out.append(Text(f"{where} legend {label.text!r}", pg.mkColor(label.opts["color"]), bg))
    for it in item.items:
        if isinstance(it, pg.InfiniteLine) and getattr(it, "label", None) is not None:
            out.append(Text(f"{where} line label", it.label.color, bg))
        elif isinstance(it, pg.TextItem):
            out.append(Text(f"{where} text item", it.color, bg))
    return out


def token_view_texts(v: TokenView) -> list[Text]:
    pal = v.palette()
    base, text = pal.color(R.Base), pal.color(R.Text)
    worst = blend(shade(0.0, is_dark(pal)), base)  # the strongest shading, p = 0
    return [
        Text("token view: text on the strongest shade", text, worst),
        Text("token view: parting mark", part_color(pal), base),
    ]


def all_texts(root: QWidget) -> list[Text]:
    out = palette_texts(root.palette(), "palette")
    for w in [root, *root.findChildren(QWidget)]:
        if not w.isEnabled() or w.isHidden():
            continue  # disabled controls are exempt (WCAG); hidden ones are not shown
        out += widget_texts(w)
        if isinstance(w, pg.PlotWidget):
            out += plot_texts(w)
        if isinstance(w, TokenView):
            out += token_view_texts(w)
    return out
