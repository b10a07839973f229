"""What the app remembers between runs (QSettings): window, sampling settings, recent models.

``BITNET_STUDIO_SETTINGS`` names an INI file to use instead of the platform's store (tests
and portable installs).
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

SETTINGS_ENV = "BITNET_STUDIO_SETTINGS"
MAX_RECENT = 8


def open_settings() -> QSettings:
    path = os.environ.get(SETTINGS_ENV)
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("BitNet Studio", "bitnet-studio")


class Settings:
    """Typed access to the few things we store."""

    def __init__(self, qs: QSettings | None = None) -> None:
        self.qs = qs if qs is not None else open_settings()

    # window
    def geometry(self) -> QByteArray | None:
        v = self.qs.value("window/geometry")
        return v if isinstance(v, QByteArray) else None

    def window_state(self) -> QByteArray | None:
        v = self.qs.value("window/state")
        return v if isinstance(v, QByteArray) else None

    def set_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.qs.setValue("window/geometry", geometry)
        self.qs.setValue("window/state", state)

    # sampling (a plain dict: see SamplingPanel.to_dict)
    def sampling(self) -> dict[str, Any]:
        self.qs.beginGroup("sampling")
        try:
            return {k: self.qs.value(k) for k in self.qs.childKeys()}
        finally:
            self.qs.endGroup()

    def set_sampling(self, values: dict[str, Any]) -> None:
        self.qs.beginGroup("sampling")
        try:
            for k, v in values.items():
                self.qs.setValue(k, v)
        finally:
            self.qs.endGroup()

    # recent models, most recent first
    def recent_models(self) -> list[str]:
        v = self.qs.value("models/recent", [])
        if isinstance(v, str):
            return [v] if v else []
        return [str(x) for x in (v or [])]

    def add_recent_model(self, path: str) -> list[str]:
        items = [path] + [p for p in self.recent_models() if p != path]
        items = items[:MAX_RECENT]
        self.qs.setValue("models/recent", items)
        return items

    # the first start's explanation (shown once)
    def intro_seen(self) -> bool:
        return self.qs.value("intro/seen", False) in (True, "true", "True", "1", 1)

    def set_intro_seen(self) -> None:
        self.qs.setValue("intro/seen", True)

    def sync(self) -> None:
        self.qs.sync()
