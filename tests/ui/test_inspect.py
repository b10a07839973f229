"""The Inspect page on tiny in-memory models: histograms, statistics, tiles, depth plots,
bytes by component, the "ternarize" preview and the PTQ twin."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from bitnet_studio.inspect.ptq_preview import ternarize_preview
from bitnet_studio.inspect.stats import histogram
from bitnet_studio.inspect.summary import kv_cache_bytes
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.models.weights import TernaryTensor
from bitnet_studio.ui import workers
from bitnet_studio.ui.inspect_page import TWIN_SUFFIX, InspectPage
from bitnet_studio.ui.model_store import ModelStore, open_weights

pytestmark = pytest.mark.timeout(120)
WAIT_MS = 20_000


def _store(*archs: str) -> ModelStore:
    store = ModelStore()
    for arch in archs:
        w = random_model(tiny_config(arch, n_layers=3))
        store.add(open_weights(w, name=f"tiny-{arch}", label=f"tiny {arch}"))
    return store


@pytest.fixture
def page(qtbot, request: pytest.FixtureRequest) -> Iterator[InspectPage]:  # type: ignore[no-untyped-def]
    archs = getattr(request, "param", ("llama", "bitnet-b1.58"))
    store = _store(*archs)
    p = InspectPage(store)
    qtbot.addWidget(p)
    p.resize(1200, 800)
    p.show()
    qtbot.waitUntil(lambda: p.view is not None and p.profile is not None, timeout=WAIT_MS)
    yield p
    p.shutdown()
    assert workers.join_all(timeout_s=20)
    store.close_all()


def _show(qtbot, page: InspectPage, name: str) -> None:  # type: ignore[no-untyped-def]
    page.select_tensor(name)
    qtbot.waitUntil(lambda: page.view is not None and page.view.name == name, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not page.busy(), timeout=WAIT_MS)


def test_tree_lists_every_tensor_by_layer(page: InspectPage) -> None:
    m = page.model()
    assert m is not None and m.name == "tiny-llama"
    assert sorted(page.tree.names()) == sorted(m.weights.tensors)
    groups = [page.tree.topLevelItem(i).text(0) for i in range(page.tree.topLevelItemCount())]
    assert groups == ["model", "layer 0", "layer 1", "layer 2"]
    assert page.current_tensor == "layers.0.self_attn.q_proj"  # opens on the first projection


def test_float_tensor_histogram_stats_and_tile(qtbot, page: InspectPage) -> None:  # type: ignore[no-untyped-def]
    name = "layers.1.mlp.up_proj"
    _show(qtbot, page, name)
    w = page.model().weights.tensors[name]
    counts, edges = histogram(w)
    np.testing.assert_array_equal(page.histogram_counts, counts)
    np.testing.assert_allclose(page.histogram_edges, edges)
    assert not page.hist.ternary and page.histogram_counts.sum() == w.size
    s = page.view.stats
    assert s.mean == pytest.approx(float(w.mean()), abs=1e-6)
    assert s.std == pytest.approx(float(w.std()), rel=1e-4)
    assert s.min == pytest.approx(float(w.min())) and s.max == pytest.approx(float(w.max()))
    np.testing.assert_array_equal(page.tile.tile, w[:64, :64])
    assert page.tile.image.image.shape == (64, 64)
    assert "std" in page.stats_box.text() and page.ternarize_button.isEnabled()


def test_ternary_tensor_shows_three_bars(qtbot, page: InspectPage) -> None:  # type: ignore[no-untyped-def]
    page.select_model("tiny-bitnet-b1.58")
    name = "layers.2.mlp.down_proj"
    _show(qtbot, page, name)
    t = page.model().weights.tensors[name]
    assert isinstance(t, TernaryTensor)
    expected = [int(np.count_nonzero(t.codes == v)) for v in (-1, 0, 1)]
    assert list(page.histogram_counts) == expected and page.hist.ternary
    texts = [lbl.textItem.toPlainText() for lbl in page.hist._labels]
    assert texts[1].startswith("0") and f"{100 * expected[1] / t.codes.size:.1f}%" in texts[1]
    assert page.view.stats.scale == pytest.approx(float(t.scale.mean()))
    assert not page.ternarize_button.isEnabled()  # already ternary
    assert not page.twin_button.isEnabled()  # nothing float to ternarize


def test_ternarize_one_tensor(qtbot, page: InspectPage) -> None:  # type: ignore[no-untyped-def]
    name = "layers.0.mlp.gate_proj"
    _show(qtbot, page, name)
    page.ternarize_button.click()
    qtbot.waitUntil(lambda: page.preview is not None, timeout=WAIT_MS)
    expected = ternarize_preview(page.model().weights.tensors[name])
    p = page.preview
    assert p.rel_l2 == pytest.approx(expected.rel_l2) and p.cosine == pytest.approx(expected.cosine)
    np.testing.assert_array_equal(p.code_counts, expected.code_counts)
    assert page.hist_after.isVisible() and page.hist_after.ternary
    np.testing.assert_array_equal(page.hist_after.counts, expected.code_counts)
    assert f"{expected.rel_l2:.3f}" in page.preview_label.text()
    assert f"{expected.cosine:.4f}" in page.preview_label.text()
    # the original stays on the left
    np.testing.assert_array_equal(page.histogram_counts, expected.before[0])
    _show(qtbot, page, "layers.0.mlp.up_proj")  # another tensor: the preview goes away
    assert page.preview is None and not page.hist_after.isVisible()


@pytest.mark.parametrize("arch", ["llama", "bitnet-b1.58"])
def test_depth_plots_have_one_point_per_layer(qtbot, page: InspectPage, arch: str) -> None:  # type: ignore[no-untyped-def]
    page.select_model(f"tiny-{arch}")
    qtbot.waitUntil(
        lambda: (
            page.profile is not None and page.profile.kind == ("float", "ternary")[arch != "llama"]
        ),
        timeout=WAIT_MS,
    )
    n = page.model().weights.config.n_layers
    first, second = page.depth.curves
    for curves in (first, second):
        for proj in ("self_attn.q_proj", "mlp.down_proj"):
            x, y = curves[proj].getData()
            assert list(x) == list(range(n)) and len(y) == n and np.isfinite(y).all()
    metric = page.profile.metrics[0]
    assert metric == ("std" if arch == "llama" else "scale")
    if arch != "llama":
        q = page.model().weights.tensors["layers.1.self_attn.q_proj"]
        _, y = second["self_attn.q_proj"].getData()
        assert y[1] == pytest.approx(100 * np.mean(q.codes == 0))  # zero share in %


def test_bytes_by_component_follow_the_context(qtbot, page: InspectPage) -> None:  # type: ignore[no-untyped-def]
    w = page.model().weights
    chart = page.bytes_chart
    assert chart.categories == ["embeddings", "attention", "mlp", "norms", "head", "kv cache"]
    page.context_spin.setValue(100)
    assert page.bytes["kv cache"] == kv_cache_bytes(w, 100)
    assert chart.values[""][-1] == kv_cache_bytes(w, 100)
    assert chart.values[""][0] == w.tensors["embed_tokens"].nbytes
    page.select_model("tiny-bitnet-b1.58")
    assert "head (tied)" in chart.categories


def test_ptq_twin_joins_the_store(qtbot, page: InspectPage) -> None:  # type: ignore[no-untyped-def]
    assert page.twin_button.isEnabled()
    twin_name = "tiny-llama" + TWIN_SUFFIX
    with qtbot.waitSignal(page.sig_twin_added, timeout=WAIT_MS) as sig:
        page.twin_button.click()
    assert sig.args == [twin_name]
    twin = page.store.get(twin_name)
    assert twin is not None and "PTQ" in twin.label and twin.session is not None
    projections = [t for n, t in twin.weights.tensors.items() if n.endswith("_proj")]
    assert projections and all(isinstance(t, TernaryTensor) for t in projections)
    assert page.model_combo.findData(twin_name) >= 0
    qtbot.waitUntil(lambda: page.current_model == twin_name, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: page.view is not None and page.view.is_ternary, timeout=WAIT_MS)
    assert len(page.histogram_counts) == 3
    qtbot.waitUntil(lambda: page.profile is not None and page.profile.kind == "ternary")
    page.select_model("tiny-llama")
    assert not page.twin_button.isEnabled()  # the twin exists already


def test_summary_warns_about_non_finite_weights(qtbot) -> None:  # type: ignore[no-untyped-def]
    w = random_model(tiny_config("llama", n_layers=2))
    t = np.array(w.tensors["layers.1.mlp.down_proj"], dtype=np.float16)
    t[0, 0] = np.inf
    w.tensors["layers.1.mlp.down_proj"] = t
    store = ModelStore()
    store.add(open_weights(w, name="broken", label="broken"))
    store.add(open_weights(random_model(tiny_config("llama")), name="fine", label="fine"))
    p = InspectPage(store)
    qtbot.addWidget(p)
    p.show()
    p.select_model("broken")
    assert p.warning.isVisible()
    assert "1 non-finite weights (NaN/Inf) in 1 tensors (layers.1.mlp.down_proj)" in (
        p.warning.text()
    )
    p.select_model("fine")
    assert not p.warning.isVisible()
    p.shutdown()
    assert workers.join_all(timeout_s=20)
    store.close_all()
