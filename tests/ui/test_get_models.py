"""File > Get models…: downloads (from a local stand-in for the hub) with progress, cancel,
the offline message, and Open loading the model into the store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import LOAD_TIMEOUT_MS
from hub_fakes import FakeHub, install
from PySide6.QtCore import Qt

from bitnet_studio import hub
from bitnet_studio.ui.get_models_dialog import GetModelsDialog
from bitnet_studio.ui.main_window import MainWindow
from bitnet_studio.ui.model_store import ModelStore

pytestmark = pytest.mark.timeout(120)

GGUF = hub.find("microsoft/bitnet-b1.58-2B-4T-gguf")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tiny_models: tuple[str, str], tmp_path: Path) -> FakeHub:
    """The hub serves a tiny GGUF under the BitNet GGUF repo's file name."""
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    data = Path(tiny_models[1]).read_bytes()
    return install(monkeypatch, {GGUF.repo_id: {GGUF.gguf or "": data, "README.md": b"x"}})


@pytest.fixture
def dialog(qtbot, fake: FakeHub, tmp_path: Path) -> Iterator[GetModelsDialog]:  # type: ignore[no-untyped-def]
    store = ModelStore()
    d = GetModelsDialog(store, dest_root=tmp_path / "hf-cache")
    qtbot.addWidget(d)
    d.show()
    d.select(GGUF.repo_id)
    yield d
    d.shutdown()
    store.close_all()


def test_download_shows_progress_then_open_loads_it(
    qtbot, dialog: GetModelsDialog, fake: FakeHub
) -> None:  # type: ignore[no-untyped-def]
    fake.delay_s = 0.002
    values: list[int] = []
    dialog.progress.valueChanged.connect(values.append)
    assert not dialog.open_button.isEnabled()
    qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    assert dialog.is_busy() and dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=LOAD_TIMEOUT_MS)
    assert len(set(values)) > 5 and values == sorted(values)
    assert dialog.progress.value() == dialog.progress.maximum()
    row = hub.CATALOG.index(GGUF)
    assert dialog.table.item(row, 4).text() == "yes"
    assert dialog.open_button.isEnabled()
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(dialog.store.models()) == 1, timeout=LOAD_TIMEOUT_MS)
    model = dialog.store.models()[0]
    assert model.path is not None and model.path.endswith("ggml-model-i2_s.gguf")
    assert dialog.opened == [model.name]


def test_cancel_stops_mid_way(qtbot, dialog: GetModelsDialog, fake: FakeHub) -> None:  # type: ignore[no-untyped-def]
    fake.delay_s = 0.05
    dialog.start_download()
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=LOAD_TIMEOUT_MS)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=LOAD_TIMEOUT_MS)
    assert "Cancelled" in dialog.status.text()
    assert dialog.progress.value() < dialog.progress.maximum()
    assert hub.is_downloaded(GGUF, dialog.dest_root) is None
    assert not dialog.open_button.isEnabled()


def test_offline_says_so(qtbot, dialog: GetModelsDialog, fake: FakeHub) -> None:  # type: ignore[no-untyped-def]
    fake.offline = True
    dialog.start_download()
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=LOAD_TIMEOUT_MS)
    text = dialog.status.text()
    assert "the Hugging Face hub cannot be reached (offline?)" in text
    assert GGUF.repo_id in text and "Traceback" not in text
    assert dialog.download_button.isEnabled()


def test_file_menu_opens_the_dialog(qtbot, fake: FakeHub, tiny_models) -> None:  # type: ignore[no-untyped-def]
    w = MainWindow(models=[])
    qtbot.addWidget(w)
    file_menu = w.menuBar().actions()[0].menu()
    action = next(a for a in file_menu.actions() if a.text() == "&Get models…")
    action.trigger()
    dialogs = w.findChildren(GetModelsDialog)
    assert len(dialogs) == 1 and dialogs[0].isVisible()
    assert dialogs[0].table.rowCount() == len(hub.CATALOG)
    assert w.get_models_dialog() is dialogs[0]  # reused, not a second one
    dialogs[0].close()
    w.shutdown(timeout_s=20)
