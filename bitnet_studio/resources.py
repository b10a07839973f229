"""Where the project's ``resources/`` folder (fonts, icons, bundled models) is at run time.

Looked up in this order: ``BITNET_STUDIO_RESOURCES``; a PyInstaller bundle's data folder
(``sys._MEIPASS/resources``); ``bitnet_studio/resources`` inside an installed wheel (CMake
installs it there); the source checkout's ``resources/`` next to the package (editable installs).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _candidates() -> list[Path]:
    out: list[Path] = []
    if env := os.environ.get("BITNET_STUDIO_RESOURCES"):
        out.append(Path(env))
    if meipass := getattr(sys, "_MEIPASS", None):
        out.append(Path(meipass) / "resources")
    out += [_PACKAGE / "resources", _PACKAGE.parent / "resources"]
    return out


def resources_root() -> Path:
    """The first existing resources folder (the checkout's when none exists yet)."""
    for path in _candidates():
        if path.is_dir():
            return path
    return _PACKAGE.parent / "resources"


def resource_path(*parts: str) -> Path:
    """A path under the resources folder (it may not exist)."""
    return resources_root().joinpath(*parts)
