"""The app's window icon: every PNG size of ``resources/icons/hicolor`` in one QIcon."""

from __future__ import annotations

from PySide6.QtGui import QIcon

from bitnet_studio.resources import resource_path

ICON_NAME = "bitnet-studio"


def app_icon() -> QIcon:
    """The icon at each rendered size (an empty QIcon when the resources are missing)."""
    icon = QIcon()
    hicolor = resource_path("icons", "hicolor")
    for png in sorted(hicolor.glob(f"*/apps/{ICON_NAME}.png")):
        icon.addFile(str(png))
    return icon
