"""Light and dark themes that follow the system's colour scheme.

Qt reports the desktop's scheme through ``QStyleHints.colorScheme()`` and signals changes;
we answer with the Fusion style and a matching palette, so every widget (and the token view,
which draws from the palette) reads well in both. ``BITNET_STUDIO_THEME=dark|light``
overrides the system, and is the fallback where the platform reports no scheme.
"""

from __future__ import annotations

import os

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

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
    QPalette.ColorRole.Highlight: "#3d7bd9",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#7fb2ff",
}


def current_scheme(app: QApplication) -> Qt.ColorScheme:
    """The scheme to show: the override, else the system's, else light."""
    env = os.environ.get("BITNET_STUDIO_THEME", "").lower()
    if env in ("dark", "light"):
        return Qt.ColorScheme.Dark if env == "dark" else Qt.ColorScheme.Light
    scheme = app.styleHints().colorScheme()
    return Qt.ColorScheme.Light if scheme == Qt.ColorScheme.Unknown else scheme


def palette_for(scheme: Qt.ColorScheme) -> QPalette:
    if scheme != Qt.ColorScheme.Dark:
        return QPalette(QColor("#efefef"))  # Fusion's own light palette from its window colour
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
    dark = chosen == Qt.ColorScheme.Dark
    pg.setConfigOptions(
        background="#1f1f22" if dark else "w", foreground="#d0d0d0" if dark else "k"
    )
    return chosen


def follow_system(app: QApplication) -> None:
    """Applies the theme now and again whenever the desktop switches light/dark."""
    apply_theme(app)
    app.styleHints().colorSchemeChanged.connect(lambda _s: apply_theme(app))
