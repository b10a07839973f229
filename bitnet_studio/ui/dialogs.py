"""Readable error and about dialogs: a sentence first, the technical details behind a button."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from bitnet_studio import __version__


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> None:
    """A warning box with ``message``; ``details`` (a traceback) is in the expandable part."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(message)
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.exec()


def about_text(kernels: str) -> str:
    """The About box's text; ``kernels`` is the SIMD path and threads ("avx2 · 2 threads")."""
    return (
        f"<b>BitNet Studio {__version__}</b><p>Run a vanilla and a ternary (BitNet b1.58) "
        "model side by side: compare their answers, inspect their weights, measure their "
        f"speed and memory.</p><p>Kernels: {kernels}</p>"
    )


def show_about(parent: QWidget | None, kernels: str) -> None:
    QMessageBox.about(parent, "About BitNet Studio", about_text(kernels))
