"""Light and dark themes: the palette follows the scheme, and an override wins."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from bitnet_studio.ui.theme import apply_theme, current_scheme


@pytest.mark.timeout(60)
def test_dark_and_light_palettes(qapp: QApplication) -> None:
    try:
        apply_theme(qapp, Qt.ColorScheme.Dark)
        pal = qapp.palette()
        assert pal.window().color().lightness() < 80
        assert pal.text().color().lightness() > 180  # text readable on it
        apply_theme(qapp, Qt.ColorScheme.Light)
        assert qapp.palette().window().color().lightness() > 200
    finally:
        apply_theme(qapp)


def test_override_and_fallback(qapp: QApplication, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BITNET_STUDIO_THEME", "dark")
    assert current_scheme(qapp) == Qt.ColorScheme.Dark
    monkeypatch.setenv("BITNET_STUDIO_THEME", "")
    # offscreen reports no scheme: light is the fallback; a real desktop's scheme otherwise
    assert current_scheme(qapp) in (Qt.ColorScheme.Light, Qt.ColorScheme.Dark)
