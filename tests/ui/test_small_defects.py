"""The small defects of issue 12.13: Send while models load, Open recent after a failed open,
the About box's kernel line, removing an added pane, model colours across sessions."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import LOAD_TIMEOUT_MS, wait_idle

from bitnet_studio.ui.charts import PALETTE, color_for
from bitnet_studio.ui.dialogs import about_text
from bitnet_studio.ui.live_plots import LivePlots
from bitnet_studio.ui.main_window import MainWindow, kernel_summary

pytestmark = pytest.mark.timeout(120)


def test_send_is_off_with_a_reason_while_models_load(qtbot, tiny_models) -> None:  # type: ignore[no-untyped-def]
    w = MainWindow(models=list(tiny_models))
    qtbot.addWidget(w)
    page = w.compare
    assert w.store.is_loading()
    assert not page.send_button.isEnabled()
    assert "load" in page.send_reason.text() and "load" in page.send_button.toolTip()
    assert not page.send("too early")  # Ctrl+Enter does nothing, visibly
    qtbot.waitUntil(lambda: not w.store.is_loading(), timeout=LOAD_TIMEOUT_MS)
    assert page.send_button.isEnabled() and page.send_reason.text() == ""
    w.shutdown(timeout_s=20)
    empty = MainWindow(models=[])
    qtbot.addWidget(empty)
    assert not empty.compare.send_button.isEnabled()
    assert "File > Open model" in empty.compare.send_reason.text()
    empty.shutdown(timeout_s=20)


def test_only_successful_opens_are_recent(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, tmp_path: Path, tiny_models, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialogs: list[str] = []
    monkeypatch.setattr(
        window, "show_error", lambda _title, message, _d="": dialogs.append(message)
    )
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\xff" * 64)
    window.open_model(str(bad))
    qtbot.waitUntil(lambda: bool(dialogs), timeout=LOAD_TIMEOUT_MS)
    assert str(bad) not in window.settings.recent_models()
    window.open_model(tiny_models[1])
    assert window.settings.recent_models()[0] == tiny_models[1]


def test_about_names_the_kernels_once() -> None:
    text = about_text(kernel_summary())
    assert "Kernels: " in text and "kernels:" not in text.lower().replace("kernels: ", "", 1)
    assert "threads" in text


def test_an_added_pane_can_be_removed(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    page = window.compare
    assert not any(p.close_button.isVisibleTo(p) for p in page.panes)  # two: keep both
    third = page.add_pane()
    assert third is not None and all(p.close_button.isVisibleTo(p) for p in page.panes)
    page.panes[0].close_button.click()
    assert len(page.panes) == 2 and [p.index for p in page.panes] == [0, 1]
    assert page.pane_split.count() == 2 and page.add_button.isEnabled()
    assert not any(p.close_button.isVisibleTo(p) for p in page.panes)
    assert page.send("still comparing")
    wait_idle(qtbot, window)
    assert all(p.last_done is not None for p in page.panes)


def test_model_colours_do_not_depend_on_load_order(qtbot) -> None:  # type: ignore[no-untyped-def]
    names = ["default-vanilla", "default-ternary", "/models/a.gguf"]
    assert color_for(names[0]) == color_for(names[0]) and color_for(names[0]) in PALETTE
    one, two = LivePlots(), LivePlots()
    for w in (one, two):
        qtbot.addWidget(w)
        w.stop()
    for n in names:
        one.add_series(n)
    for n in reversed(names):
        two.add_series(n)
    distinct = len({color_for(n) for n in names}) == len(names)
    if distinct:  # no hash collision among these names: each keeps its own colour
        assert {n: one.series[n].color for n in names} == {n: two.series[n].color for n in names}
    assert len({s.color for s in one.series.values()}) == len(names)  # never two alike
