"""The QAT lab page: a real (tiny) live training of the three twins, pause, stop, close; the
trained pair among the defaults and in File > Load pair."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import LOAD_TIMEOUT_MS
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QMessageBox

import bitnet_studio.train.lab as lab_mod
from bitnet_studio import cli
from bitnet_studio.engine import registry
from bitnet_studio.errors import StudioError
from bitnet_studio.train.model import Shape
from bitnet_studio.train.recipe import Recipe
from bitnet_studio.ui import lab_worker, workers
from bitnet_studio.ui.loss_plot import VARIANT_LABELS, smooth, variant_color
from bitnet_studio.ui.main_window import MainWindow
from bitnet_studio.ui.qat_lab_page import QatLabPage
from tests.train_fixtures import tiny_recipe, token_data, tokenizer

pytestmark = pytest.mark.timeout(120)
RUN_TIMEOUT_MS = 60_000


@pytest.fixture(autouse=True)
def fast_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab builds from a small cached BPE and token streams, not the whole corpus."""
    monkeypatch.setattr(lab_mod, "train_tokenizer", lambda _vocab: tokenizer())
    monkeypatch.setattr(lab_mod.TokenData, "from_corpus", lambda _tok: token_data())


@pytest.fixture
def recipe() -> Recipe:
    shape = Shape(
        vocab_size=512, hidden_size=32, intermediate_size=64, n_layers=1, n_heads=2, context=16
    )
    return tiny_recipe(steps=6, eval_every=2, eval_tokens=64, batch_size=2, shape=shape)


@pytest.fixture
def page(qtbot, recipe: Recipe) -> QatLabPage:  # type: ignore[no-untyped-def]
    p = QatLabPage(recipe)
    qtbot.addWidget(p)
    p.show()
    yield p
    assert p.shutdown(timeout_s=20)


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    shown: list[str] = []

    def fake_exec(box: QMessageBox) -> int:
        shown.append(box.text())
        return int(QMessageBox.StandardButton.Ok.value)

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    return shown


def test_page_builds(page: QatLabPage, recipe: Recipe) -> None:
    assert page.steps_box.value() == recipe.steps and page.seed_box.value() == recipe.seed
    assert page.start_button.isEnabled()
    assert not page.pause_button.isEnabled() and not page.stop_button.isEnabled()
    assert set(page.lines) == set(VARIANT_LABELS) == set(page.plot.series)
    assert "pair:smollm2" in page.explain.text()


def test_a_run_plots_both_twins_to_the_end(qtbot, page: QatLabPage) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(page.sig_finished, timeout=RUN_TIMEOUT_MS) as finished:
        assert page.start()
        assert not page.start() and not page.start_button.isEnabled()  # one run at a time
    assert finished.args == [True] and page.finished and page.error is None
    for variant, s in page.plot.series.items():
        assert s.n == 6 and list(s.steps[: s.n]) == [1, 2, 3, 4, 5, 6]
        assert [step for step, _ in s.heldout] == [2, 4, 6]
        x, y = page.plot.items[variant].line.getData()
        assert len(x) == 6 and len(y) == 6
        line = page.lines[variant].text()
        assert "step 6/6" in line and "held-out" in line and "tok/s" in line
    assert page.state.text().startswith("done: 6 steps")
    assert page.start_button.isEnabled() and not page.stop_button.isEnabled()


def test_three_curves_each_at_its_own_lr(qtbot, page: QatLabPage, recipe: Recipe) -> None:  # type: ignore[no-untyped-def]
    assert list(VARIANT_LABELS) == ["vanilla", "bitnet", "b158"]
    assert len({variant_color(v) for v in VARIANT_LABELS}) == 3
    legend = [label.text for _item, label in page.plot.plot.getPlotItem().legend.items]
    assert all(VARIANT_LABELS[v] in legend for v in VARIANT_LABELS)
    lrs = {"vanilla": 1e-3, "bitnet": 4e-3, "b158": 2e-3}
    page.set_recipe(recipe, lrs)
    assert all(f"peak LR {lrs[v]:g}" in page.names[v].text() for v in lrs)
    with qtbot.waitSignal(page.sig_finished, timeout=RUN_TIMEOUT_MS):
        assert page.start(steps=2)
    for v, lr in lrs.items():  # step 2 of a 5-step warm-up: 2/5 of each twin's own peak
        assert page.status.last[v].lr == pytest.approx(lr * 2 / recipe.warmup_steps)


def test_steps_box_says_loading_while_torch_loads(qtbot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()
    recipe = tiny_recipe(steps=7)

    def slow_load(*_a: object) -> Recipe:
        release.wait(20)
        return recipe

    monkeypatch.setattr(lab_worker, "load_recipe", slow_load)
    page = QatLabPage()
    qtbot.addWidget(page)
    page.show()
    assert page.recipe is None and "loading" in page.state.text()
    assert page.steps_box.text() == "loading…" and "1 steps" not in page.steps_box.text()
    assert not page.steps_box.isEnabled() and not page.start_button.isEnabled()
    release.set()
    qtbot.waitUntil(lambda: page.recipe is not None, timeout=RUN_TIMEOUT_MS)
    assert page.steps_box.text() == "7 steps" and page.steps_box.isEnabled()
    assert page.steps_box.minimum() == 1
    assert page.shutdown(timeout_s=20)


def test_expected_time_is_shown_before_a_run(qtbot, page: QatLabPage) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: page.round_s is not None, timeout=RUN_TIMEOUT_MS)
    assert page.round_s is not None and page.round_s > 0
    assert page.expected.text().startswith("expected ≈ ")
    short = page.expected_s()
    page.steps_box.setValue(600)
    assert page.expected_s() == pytest.approx(short * 100, rel=0.2)  # 6 -> 600 steps
    assert "s per round of three steps" in page.expected.toolTip()


def test_pause_names_the_step_every_row_shows(qtbot, page: QatLabPage, recipe: Recipe) -> None:  # type: ignore[no-untyped-def]
    page.set_recipe(replace(recipe, eval_every=0))
    assert page.start(steps=100_000)
    qtbot.waitUntil(lambda: _progress(page) >= 2, timeout=RUN_TIMEOUT_MS)
    page.pause()
    qtbot.wait(500)  # the round in flight ends; its events arrive
    page.flush()
    step = page.status.step()
    assert page.state.text() == f"paused at step {step}/100000"
    for line in page.lines.values():
        assert line.text().startswith(f"step {step}/100000 ·"), line.text()
        assert "ETA" not in line.text()  # a paused run has no time left to count down
    page.resume()
    qtbot.waitUntil(lambda: _progress(page) > step, timeout=RUN_TIMEOUT_MS)


def test_no_eta_after_stop(qtbot, page: QatLabPage, recipe: Recipe) -> None:  # type: ignore[no-untyped-def]
    page.set_recipe(replace(recipe, eval_every=0))
    assert page.start(steps=100_000)
    qtbot.waitUntil(lambda: _progress(page) >= 2, timeout=RUN_TIMEOUT_MS)
    assert all("ETA" in t.text() for t in page.lines.values())
    with qtbot.waitSignal(page.sig_finished, timeout=RUN_TIMEOUT_MS):
        page.stop()
    step = page.status.step()
    assert f"stopped at step {step}/100000" in page.state.text()
    for line in page.lines.values():
        assert "ETA" not in line.text() and line.text().startswith(f"step {step}/"), line.text()


def test_smoothing_is_centred_and_does_not_lag() -> None:
    line = np.arange(12.0)
    assert np.allclose(smooth(line, 3), line)  # a straight line stays put, ends included
    short = np.array([8.3, 8.28, 8.22, 8.15, 8.09])  # a 5-step run is not flattened
    assert np.all(np.diff(smooth(short, 20)) < 0)
    noisy = line + np.tile([0.5, -0.5], 6)
    assert np.abs(smooth(noisy, 3) - line)[3:9].max() < 0.1  # the middle is smoothed
    assert smooth(np.zeros(0), 3).size == 0


def _progress(page: QatLabPage) -> int:
    page.flush()
    return max((s.n for s in page.plot.series.values()), default=0)


def test_pause_resume_stop_and_a_fresh_start(qtbot, page: QatLabPage, recipe: Recipe) -> None:  # type: ignore[no-untyped-def]
    page.set_recipe(replace(recipe, eval_every=0))
    assert page.start(steps=100_000)
    qtbot.waitUntil(lambda: _progress(page) >= 2, timeout=RUN_TIMEOUT_MS)
    assert all("/100000" in t.text() and "ETA" in t.text() for t in page.lines.values())
    page.toggle_pause()
    assert page.paused() and page.pause_button.text() == "Resume"
    qtbot.wait(400)  # the step in flight ends
    held = _progress(page)
    qtbot.wait(600)
    assert _progress(page) == held and "paused" in page.state.text()
    page.toggle_pause()
    assert not page.paused()
    qtbot.waitUntil(lambda: _progress(page) > held, timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(page.sig_finished, timeout=RUN_TIMEOUT_MS) as finished:
        page.stop()
    assert finished.args == [False] and not page.running()
    assert "stopped at step" in page.state.text() and "/100000" in page.state.text()
    assert page.start()  # a fresh run: the chart starts over
    assert all(s.n == 0 for s in page.plot.series.values())
    qtbot.waitUntil(lambda: _progress(page) >= 1, timeout=RUN_TIMEOUT_MS)
    page.pause()
    assert workers.join_all(timeout_s=10)  # a cancelled worker stops even while paused


def test_closing_the_window_mid_run_ends_the_training(  # type: ignore[no-untyped-def]
    qtbot, tiny_models: tuple[str, str], recipe: Recipe
) -> None:
    w = MainWindow(models=list(tiny_models))
    qtbot.addWidget(w)
    w.show()
    lab = w.qat_lab
    lab.set_recipe(recipe)
    assert lab.start(steps=100_000)
    qtbot.waitUntil(lambda: _progress(lab) >= 1, timeout=RUN_TIMEOUT_MS)
    t0 = time.monotonic()
    w.close()
    assert time.monotonic() - t0 < 15
    assert not any(x.isRunning() for x in workers.active_workers())


def test_a_failed_run_shows_the_error(  # type: ignore[no-untyped-def]
    qtbot, tiny_models: tuple[str, str], recipe: Recipe, monkeypatch, dialogs: list[str]
) -> None:
    def broken(*_a: object, **_k: object) -> None:
        raise StudioError("corpus", "the bundled corpus is missing")

    monkeypatch.setattr(lab_mod, "QatLab", broken)
    w = MainWindow(models=[])
    qtbot.addWidget(w)
    w.qat_lab.set_recipe(recipe)
    with qtbot.waitSignal(w.qat_lab.sig_finished, timeout=RUN_TIMEOUT_MS):
        w.qat_lab.start()
    assert dialogs == ["corpus: the bundled corpus is missing"] == w.errors
    assert w.qat_lab.state.text().startswith("error:") and w.qat_lab.start_button.isEnabled()
    w.close()


def test_the_trained_pair_loads_into_compare(  # type: ignore[no-untyped-def]
    qtbot, tiny_models: tuple[str, str], tmp_path: Path, monkeypatch, dialogs: list[str]
) -> None:
    monkeypatch.setattr(registry, "resource_path", lambda *parts: tmp_path.joinpath(*parts))
    w = MainWindow(models=[])
    qtbot.addWidget(w)
    menu = [a.text() for a in w.defaults_menu.actions()]
    assert registry.DEFAULT_MODELS["default-trained-bitnet"].label in menu and len(menu) == 5
    pairs = [a.text() for a in w.pairs_menu.actions()]
    assert any("trained b1.58" in t for t in pairs)

    w.load_pair("trained")  # the files are not there: the registry's error, no crash
    qtbot.waitUntil(lambda: len(dialogs) == 2, timeout=LOAD_TIMEOUT_MS)
    assert all("trained default is missing" in d for d in dialogs)
    assert w.tabs.currentWidget() is w.compare and not w.store.models()

    (tmp_path / "models").mkdir()
    for src, name in zip(tiny_models, registry.TRAINED_DEFAULTS, strict=True):
        shutil.copy(src, tmp_path / "models" / f"{name}.gguf")
    w.pairs_menu.actions()[1].trigger()
    qtbot.waitUntil(lambda: len(w.store.models()) == 2, timeout=LOAD_TIMEOUT_MS)
    panes = [p.model() for p in w.compare.panes]
    assert [m.name for m in panes if m] == list(registry.TRAINED_DEFAULTS)
    assert panes[1] is not None and "trained ternary" in panes[1].label
    w.close()


def test_gui_screenshot_after_a_short_lab_run(  # type: ignore[no-untyped-def]
    qtbot, tiny_models, tmp_path: Path, recipe: Recipe, monkeypatch
) -> None:
    monkeypatch.setattr(lab_worker, "load_recipe", lambda *_a: recipe)  # not LAB: fast
    png = tmp_path / "lab.png"
    argv = ["gui", "--page", "qat-lab", "--lab-steps", "2", "--models", *tiny_models]
    assert cli.main([*argv, "--screenshot", str(png), "--timeout", "60"]) == 0
    assert not QImage(str(png)).isNull()
