"""Every text on every page passes WCAG AA contrast (4.5:1) in the light and the dark theme,
and plots follow the theme (issue 12.10)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from conftest import wait_idle
from contrast import all_texts
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from bitnet_studio.ui.main_window import MainWindow
from bitnet_studio.ui.theme import AA_NORMAL, DARK_PLOTS, LIGHT_PLOTS, apply_theme, contrast_ratio

pytestmark = pytest.mark.timeout(180)


def _kernel_record(backend: str, us: float) -> SimpleNamespace:
    return SimpleNamespace(
        op="gemv",
        backend=backend,
        rows=2560,
        cols=6912,
        batch=1,
        threads=2,
        regime="cold",
        median_us=us,
        weight_bytes=4_423_680 if backend == "ternary" else 35_389_440,
        weight_gbps=(4_423_680 if backend == "ternary" else 35_389_440) / us / 1e3,
        bandwidth_gbps=20.0,
    )


def _fill_every_page(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    """Content on every page: an answer, a tensor with its PTQ preview, bench results."""
    window.compare.sampling.temperature.setValue(0.0)
    window.compare.send("the lazy dog")
    wait_idle(qtbot, window)
    ins = window.inspect
    ins.select_model(window.store.models()[0].name)
    qtbot.waitUntil(lambda: ins.view is not None, timeout=30_000)
    ins.ternarize_tensor()
    qtbot.waitUntil(lambda: ins.preview is not None, timeout=30_000)
    window.measure.results.show_records(
        "kernels", [_kernel_record("ternary", 300.0), _kernel_record("f16", 2400.0)]
    )
    window.measure.bench_status.setText("kernels (quick): done, 2 records")
    window.measure.live.tick()


def _check(qtbot, window: MainWindow, qapp: QApplication) -> None:  # type: ignore[no-untyped-def]
    _fill_every_page(qtbot, window)
    qapp.processEvents()
    texts = all_texts(window)
    assert len(texts) > 100  # the walk saw the pages
    bad = [
        f"{t.where}: {t.fg.name()} on {t.bg.name()} = {contrast_ratio(t.fg, t.bg):.2f}"
        for t in texts
        if contrast_ratio(t.fg, t.bg) < AA_NORMAL
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("scheme", [Qt.ColorScheme.Light, Qt.ColorScheme.Dark])
def test_every_text_passes_aa_in_a_window_built_in_the_theme(  # type: ignore[no-untyped-def]
    qtbot, qapp: QApplication, tiny_models, scheme
) -> None:
    """The app starts in the desktop's theme: everything built in it must read well."""
    try:
        apply_theme(qapp, scheme)
        w = MainWindow(models=list(tiny_models))
        qtbot.addWidget(w)
        w.show()
        qtbot.waitUntil(lambda: len(w.store.models()) == 2, timeout=30_000)
        w.compare.sampling.max_tokens.setValue(24)
        _check(qtbot, w, qapp)
        w.shutdown(timeout_s=20)
    finally:
        apply_theme(qapp, Qt.ColorScheme.Light)


@pytest.mark.parametrize("scheme", [Qt.ColorScheme.Light, Qt.ColorScheme.Dark])
def test_every_text_passes_aa(qtbot, window: MainWindow, qapp: QApplication, scheme) -> None:  # type: ignore[no-untyped-def]
    """The desktop switches theme while the app runs."""
    try:
        apply_theme(qapp, scheme)
        _check(qtbot, window, qapp)
    finally:
        apply_theme(qapp, Qt.ColorScheme.Light)


def test_plots_follow_the_theme(qtbot, window: MainWindow, qapp: QApplication) -> None:  # type: ignore[no-untyped-def]
    plot = window.measure.live.rss_plot
    try:
        apply_theme(qapp, Qt.ColorScheme.Dark)
        assert plot.backgroundBrush().color() == QColor(DARK_PLOTS.background)
        axis = plot.getPlotItem().getAxis("left")
        assert axis.textPen().color() == QColor(DARK_PLOTS.text)
        assert window.measure.live.process_curve.opts["pen"].color() == QColor(DARK_PLOTS.neutral)
        apply_theme(qapp, Qt.ColorScheme.Light)
        assert plot.backgroundBrush().color() == QColor(LIGHT_PLOTS.background)
        assert axis.textPen().color() == QColor(LIGHT_PLOTS.text)
    finally:
        apply_theme(qapp, Qt.ColorScheme.Light)


def test_contrast_ratio_matches_wcag() -> None:
    assert contrast_ratio(QColor("#000"), QColor("#fff")) == pytest.approx(21.0)
    assert contrast_ratio(QColor("#777"), QColor("#fff")) == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio(QColor("#fff"), QColor("#fff")) == pytest.approx(1.0)
