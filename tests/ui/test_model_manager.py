"""File > Models…: loaded models' facts, and opening one on another backend and thread count."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import GEN_TIMEOUT_MS

from bitnet_studio.ui.main_window import MainWindow


@pytest.mark.timeout(120)
def test_facts_and_reopen_on_torch(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    dialog = window.model_manager()
    names = window.store.names()
    assert dialog.table.rowCount() == len(names) == 2
    fmt_col = [dialog.table.item(r, 2).text() for r in range(2)]
    assert all(f == "gguf" for f in fmt_col)
    assert "mlp" in dialog.table.item(0, 6).text()  # bytes by kind
    dialog.table.selectRow(0)
    first = dialog.selected()
    assert first is not None and dialog.open_button.isEnabled()
    dialog.backend.setCurrentText("torch")
    dialog.threads.setValue(1)
    name = dialog.open_selected()
    assert name == f"{first.name}@torch"
    qtbot.waitUntil(lambda: window.store.get(name) is not None, timeout=GEN_TIMEOUT_MS)
    assert window.store.get(name).backend == "torch" and window.store.get(name).threads == 1
    assert dialog.table.rowCount() == 3
    # the new entry is offered to the Compare panes
    pane = window.compare.panes[0]
    assert any(pane.selector.itemData(i) == name for i in range(pane.selector.count()))
    dialog.table.selectRow(2)
    dialog.remove_selected()
    assert window.store.get(name) is None and dialog.table.rowCount() == 2


def test_store_lists_models_in_request_order_not_finish_order(
    qtbot, tiny_models: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Two loads race on worker threads: the first asked for finishes last here."""
    from bitnet_studio.ui import model_store

    real = model_store.open_model
    vanilla, ternary = tiny_models

    def slow_first(spec: str, *args: Any, **kwargs: Any) -> Any:
        if spec == vanilla:
            time.sleep(1.0)
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(model_store, "open_model", slow_first)
    store = model_store.ModelStore()
    first, second = store.load(vanilla), store.load(ternary)
    qtbot.waitUntil(lambda: len(store.models()) == 2, timeout=30_000)
    assert store.names() == [first, second]
    assert [m.name for m in store.models()] == [first, second]
    store.close_all()
