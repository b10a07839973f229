"""The first start explains the default pair once and offers the better pairs in one click
(issue 12.14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bitnet_studio.engine.registry import TRAINED_DEFAULTS
from bitnet_studio.ui.first_run import REPO_2B4T, FirstRunBanner, trained_twins_available
from bitnet_studio.ui.get_models_dialog import GetModelsDialog
from bitnet_studio.ui.main_window import DEFAULT_MODELS, MainWindow
from bitnet_studio.ui.model_store import ModelStore, model_key

pytestmark = pytest.mark.timeout(60)


class RecordingStore(ModelStore):
    """Remembers what it was asked to load instead of loading it (SmolLM2 is slow)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[str, int | None]] = []

    def load(self, name_or_path, backend="native", threads=None, slot=None) -> str:  # type: ignore[no-untyped-def, override]
        self.asked.append((str(name_or_path), slot))
        return model_key(name_or_path, backend)


def _window(qtbot) -> MainWindow:  # type: ignore[no-untyped-def]
    w = MainWindow(store=RecordingStore(), models=DEFAULT_MODELS)
    qtbot.addWidget(w)
    return w


def test_the_first_start_explains_once(qtbot, settings_file: Path) -> None:  # type: ignore[no-untyped-def]
    w = _window(qtbot)
    w.show()
    banner = w.findChild(FirstRunBanner)
    assert banner is not None and banner.isVisible() and w.intro is banner
    text = banner.text.text()
    assert "naive ternary twin" in text and "babbles" in text and "trained" in text
    assert w.settings.intro_seen()  # remembered at once: the next start is quiet
    w.settings.sync()
    again = _window(qtbot)
    assert again.findChild(FirstRunBanner) is None
    w.close()
    again.close()


def test_other_pairs_never_show_it(qtbot, tiny_models) -> None:  # type: ignore[no-untyped-def]
    w = MainWindow(store=RecordingStore(), models=list(tiny_models))
    qtbot.addWidget(w)
    assert w.findChild(FirstRunBanner) is None and not w.settings.intro_seen()


def test_trained_twins_in_one_click(qtbot) -> None:  # type: ignore[no-untyped-def]
    w = _window(qtbot)
    w.show()
    banner = w.intro
    assert banner.trained_button.isEnabled() == trained_twins_available()
    w.store.asked.clear()
    banner.sig_load_trained.emit()  # what the button does (enabled or not on this install)
    assert w.store.asked == [(TRAINED_DEFAULTS[0], 0), (TRAINED_DEFAULTS[1], 1)]
    assert not banner.isVisible()


def test_bitnet_2b4t_in_one_click(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    started: list[str] = []
    monkeypatch.setattr(
        GetModelsDialog, "start_download", lambda self: started.append(self.selected().repo_id)
    )
    w = _window(qtbot)
    w.show()
    w.store.asked.clear()
    w.intro.bitnet_button.click()
    dialog = w.findChild(GetModelsDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.selected().repo_id == REPO_2B4T
    # not downloaded yet: the download starts; downloaded: it opens
    assert started == [REPO_2B4T] or [a for a, _ in w.store.asked]
    dialog.close()
