"""The Inspect page on 1-bit models: two spikes and the sign share, and "Binarize" beside
"Ternarize" (one tensor's preview, and the whole-model naive 1-bit twin)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bitnet_studio.formats import load_model, write_gguf
from bitnet_studio.inspect.ptq_preview import binarize_preview
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.models.weights import BinaryTensor
from bitnet_studio.ui import workers
from bitnet_studio.ui.inspect_page import InspectPage
from bitnet_studio.ui.model_store import ModelStore, open_weights
from bitnet_studio.ui.ptq_actions import BINARY_TWIN_SUFFIX

pytestmark = pytest.mark.timeout(120)
WAIT_MS = 20_000
WIDE = dict(hidden_size=256, intermediate_size=512, n_heads=4, n_kv_heads=2, head_dim=64)


@pytest.fixture
def page(qtbot, tmp_path: Path) -> Iterator[InspectPage]:  # type: ignore[no-untyped-def]
    """A float llama and its Q1_0 file, both on the torch backend (1-bit linears run there
    until the native runtime has them)."""
    store = ModelStore()
    float_model = random_model(tiny_config("llama", **WIDE), seed=4)
    path = tmp_path / "one-bit.gguf"
    write_gguf(float_model, path, "q1_0")
    store.add(open_weights(float_model, name="tiny-float", label="tiny float", backend="torch"))
    store.add(open_weights(load_model(path), name="tiny-1bit", label="tiny 1-bit", backend="torch"))
    p = InspectPage(store)
    qtbot.addWidget(p)
    p.resize(1200, 800)
    p.show()
    qtbot.waitUntil(lambda: p.view is not None and p.profile is not None, timeout=WAIT_MS)
    yield p
    p.shutdown()
    assert workers.join_all(timeout_s=20)
    store.close_all()


def _settle(qtbot, page: InspectPage, name: str) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: page.view is not None and page.view.name == name, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not page.busy(), timeout=WAIT_MS)


def test_binary_tensor_two_spikes_and_sign_share(qtbot, page: InspectPage, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page.select_model("tiny-1bit")
    name = "layers.0.self_attn.q_proj"
    _settle(qtbot, page, name)
    t = page.model().weights.tensors[name]
    assert isinstance(t, BinaryTensor)
    pos = int(np.count_nonzero(t.signs > 0))
    assert page.histogram_counts.tolist() == [t.signs.size - pos, pos]  # two spikes
    beta = float(t.scale[0])
    np.testing.assert_allclose(page.histogram_edges, [-2 * beta, 0.0, 2 * beta])
    assert page.hist.ternary  # drawn as spikes, labelled -1 and +1
    s = page.view.stats
    assert s.kind == "binary" and s.bits_per_weight < 1.01
    text = page.stats_box.text()
    assert "-1 / +1" in text and f"{100 * pos / t.signs.size:.1f}%" in text and "beta" in text
    assert not page.binarize_button.isEnabled() and not page.ternarize_button.isEnabled()
    assert not page.binary_twin_button.isEnabled()  # nothing float to binarize
    qtbot.waitUntil(lambda: page.profile is not None and page.profile.kind == "binary")
    assert page.profile.metrics == ("scale", "+1 share")
    np.testing.assert_allclose(page.view.tile, t.dequantize()[:64, :64])
    page.grab().save(str(tmp_path / "inspect-binary.png"))


def test_binarize_this_tensor_preview(qtbot, page: InspectPage) -> None:  # type: ignore[no-untyped-def]
    page.select_model("tiny-float")
    name = "layers.1.mlp.up_proj"
    page.select_tensor(name)
    _settle(qtbot, page, name)
    assert page.binarize_button.isEnabled() and page.ternarize_button.isEnabled()
    page.binarize_button.click()
    qtbot.waitUntil(lambda: page.preview is not None, timeout=WAIT_MS)
    w = page.model().weights.tensors[name]
    expected = binarize_preview(w)
    np.testing.assert_array_equal(page.hist_after.counts, expected.sign_counts)
    assert page.hist_after.isVisible() and len(page.hist_after.counts) == 2
    assert (
        "centred sign" in page.preview_label.text() and "naive 1-bit" in page.preview_label.text()
    )
    assert f"{expected.rel_l2:.3f}" in page.preview_label.text()
    # one value fewer than ternary: the 1-bit error is the larger one
    page.ternarize_button.click()
    qtbot.waitUntil(lambda: len(page.hist_after.counts) == 3, timeout=WAIT_MS)
    assert page.preview.rel_l2 < expected.rel_l2


def test_binarize_whole_model_twin(qtbot, page: InspectPage) -> None:  # type: ignore[no-untyped-def]
    page.select_model("tiny-float")
    qtbot.waitUntil(lambda: page.binary_twin_button.isEnabled(), timeout=WAIT_MS)
    twin_name = "tiny-float" + BINARY_TWIN_SUFFIX
    with qtbot.waitSignal(page.sig_twin_added, timeout=WAIT_MS) as sig:
        page.binary_twin_button.click()
    assert sig.args == [twin_name]
    twin = page.store.get(twin_name)
    assert twin is not None and "naive 1-bit (PTQ)" in twin.label and twin.backend == "torch"
    projections = [t for n, t in twin.weights.tensors.items() if n.endswith("_proj")]
    assert projections and all(isinstance(t, BinaryTensor) for t in projections)
    logits = twin.session.prefill([1, 2, 3])
    assert np.all(np.isfinite(logits))
    qtbot.waitUntil(lambda: page.current_model == twin_name, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: page.view is not None and page.view.is_binary, timeout=WAIT_MS)
    page.select_model("tiny-float")
    assert not page.binary_twin_button.isEnabled() and page.twin_button.isEnabled()
