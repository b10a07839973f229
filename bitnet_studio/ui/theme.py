"""Light and dark themes that follow the system's colour scheme.

Qt reports the desktop's scheme through ``QStyleHints.colorScheme()`` and signals changes;
we answer with the Fusion style and a matching palette, so every widget (and the token view,
which draws from the palette) reads well in both. ``BITNET_STUDIO_THEME=dark|light``
overrides the system, and is the fallback where the platform reports no scheme.

Plots are not widgets Qt can repaint from a palette: ``plot_colors()`` says what they use in
the current theme, and every callback registered with ``on_theme_change`` runs after a switch
(the charts restyle themselves that way). Secondary text ("muted" labels) has its own colour
per theme, chosen, like every colour here, to keep WCAG AA contrast (4.5:1) on its
background: ``contrast_ratio`` computes it and the tests check every page with it.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

AA_NORMAL = 4.5  # WCAG 2 AA: normal text; large text (>= 18 pt, or 14 pt bold) needs 3.0

_DARK = {
    QPalette.ColorRole.Window: "#2b2b2e",
    QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#1f1f22",
    QPalette.ColorRole.AlternateBase: "#2b2b2e",
    QPalette.ColorRole.ToolTipBase: "#3a3a3e",
    QPalette.ColorRole.ToolTipText: "#e6e6e6",
    QPalette.ColorRole.Text: "#e6e6e6",
    QPalette.ColorRole.PlaceholderText: "#8a8a8f",
    QPalette.ColorRole.Button: "#35353a",
    QPalette.ColorRole.ButtonText: "#e6e6e6",
    QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Highlight: "#2d6cc0",  # HIGHLIGHT: white on it is 5.2:1 (AA)
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#7fb2ff",
}


@dataclass(frozen=True)
class PlotColors:
    """What a plot draws with in one theme."""

    background: str
    text: str  # titles, axis labels, tick labels, legends, value labels
    axis: str  # axis lines and ticks
    muted: str  # secondary text (status lines, table keys): still AA on the background
    alert: str  # reference lines and their labels (a measured roof)
    neutral: str  # a line that is no model's (the process RSS)


LIGHT_PLOTS = PlotColors("#ffffff", "#202020", "#555555", "#555555", "#c00000", "#666666")
DARK_PLOTS = PlotColors("#1f1f22", "#e6e6e6", "#a0a0a6", "#b4b4b9", "#ff7b7b", "#a0a0a6")
HIGHLIGHT = "#2d6cc0"  # selections in both themes: white text on it passes AA
_LISTENERS: list[Callable[[], None]] = []
_MUTED: weakref.WeakSet[QWidget] = weakref.WeakSet()


def relative_luminance(c: QColor) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""

    def lin(v: float) -> float:
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(c.redF()) + 0.7152 * lin(c.greenF()) + 0.0722 * lin(c.blueF())


def blend(fg: QColor, bg: QColor) -> QColor:
    """``fg`` (with its alpha) painted over opaque ``bg``."""
    a = fg.alphaF()
    return QColor.fromRgbF(
        a * fg.redF() + (1 - a) * bg.redF(),
        a * fg.greenF() + (1 - a) * bg.greenF(),
        a * fg.blueF() + (1 - a) * bg.blueF(),
    )


def contrast_ratio(a: QColor, b: QColor) -> float:
    """WCAG 2 contrast ratio of two opaque colours, 1 to 21."""
    la, lb = relative_luminance(a), relative_luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def is_dark() -> bool:
    """Whether the application's palette is a dark one now."""
    app = QApplication.instance()
    pal = app.palette() if isinstance(app, QApplication) else QPalette()
    return pal.window().color().lightness() < 128


def plot_colors() -> PlotColors:
    return DARK_PLOTS if is_dark() else LIGHT_PLOTS


def on_theme_change(callback: Callable[[], None]) -> None:
    """Runs ``callback`` after every ``apply_theme`` (plots restyle themselves this way)."""
    _LISTENERS.append(callback)


def mute(widget: QWidget) -> QWidget:
    """Shows ``widget``'s text in the theme's secondary colour (kept in step with the theme)."""
    _MUTED.add(widget)
    _paint_muted(widget)
    return widget


def _paint_muted(widget: QWidget) -> None:
    pal = widget.palette()
    pal.setColor(QPalette.ColorRole.WindowText, QColor(plot_colors().muted))
    widget.setPalette(pal)


def current_scheme(app: QApplication) -> Qt.ColorScheme:
    """The scheme to show: the override, else the system's, else light."""
    env = os.environ.get("BITNET_STUDIO_THEME", "").lower()
    if env in ("dark", "light"):
        return Qt.ColorScheme.Dark if env == "dark" else Qt.ColorScheme.Light
    scheme = app.styleHints().colorScheme()
    return Qt.ColorScheme.Light if scheme == Qt.ColorScheme.Unknown else scheme


def palette_for(scheme: Qt.ColorScheme) -> QPalette:
    if scheme != Qt.ColorScheme.Dark:
        pal = QPalette(QColor("#efefef"))  # Fusion's own light palette from its window colour
        pal.setColor(QPalette.ColorRole.Highlight, QColor(HIGHLIGHT))  # Fusion's: 3.7:1
        return pal
    pal = QPalette()
    for role, color in _DARK.items():
        pal.setColor(role, QColor(color))
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.WindowText,
    ):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7f"))
    return pal


def apply_theme(app: QApplication, scheme: Qt.ColorScheme | None = None) -> Qt.ColorScheme:
    """Sets style and palette for ``scheme`` (default: :func:`current_scheme`); plots created
    afterwards take matching colours. Returns the scheme applied."""
    chosen = scheme if scheme is not None else current_scheme(app)
    app.setStyle("Fusion")
    app.setPalette(palette_for(chosen))
    colors = DARK_PLOTS if chosen == Qt.ColorScheme.Dark else LIGHT_PLOTS
    pg.setConfigOptions(background=colors.background, foreground=colors.text)
    for w in list(_MUTED):
        if shiboken6.isValid(w):
            _paint_muted(w)
    for callback in list(_LISTENERS):
        callback()
    return chosen


def follow_system(app: QApplication) -> None:
    """Applies the theme now and again whenever the desktop switches light/dark."""
    apply_theme(app)
    app.styleHints().colorSchemeChanged.connect(lambda _s: apply_theme(app))
