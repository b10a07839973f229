"""What the Inspect page's PTQ buttons run and say: the whole-model twins (naive ternary and
naive 1-bit) and the text beside a one-tensor preview. The math is in ``models.ptq`` and
``inspect.ptq_preview``; this module only opens the twin and words the result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bitnet_studio.inspect.ptq_preview import BinarizePreview, TernarizePreview
from bitnet_studio.models.ptq import binarize_model, is_linear, ternarize_model
from bitnet_studio.models.weights import ModelWeights
from bitnet_studio.ui.model_store import LoadedModel, open_weights

TWIN_SUFFIX = "+ptq"  # naive ternary twin
BINARY_TWIN_SUFFIX = "+ptq1"  # naive 1-bit twin
_METHODS = {
    "ternary": (ternarize_model, TWIN_SUFFIX, "naive ternary (PTQ)", "ternarizing"),
    "binary": (binarize_model, BINARY_TWIN_SUFFIX, "naive 1-bit (PTQ)", "binarizing"),
}


def has_float_linears(w: ModelWeights) -> bool:
    return any(is_linear(n) and isinstance(t, np.ndarray) for n, t in w.tensors.items())


def twin_name(source: str, method: str) -> str:
    return source + _METHODS[method][1]


def build_twin(
    progress: Callable[[Any], None],
    cancel: Callable[[], bool],
    source: LoadedModel,
    method: str = "ternary",
) -> LoadedModel:
    """The PTQ twin of ``source`` (``method``: ternary or binary), opened on its backend
    (llama.cpp's: native), off the GUI thread."""
    make, suffix, label, verb = _METHODS[method]
    progress(f"{verb} every projection")
    twin = make(source.weights)
    if cancel():
        raise RuntimeError("cancelled")
    progress("opening")
    backend = "native" if source.backend == "llamacpp" else source.backend
    return open_weights(
        twin,
        name=source.name + suffix,
        label=f"{source.label}, {label}",
        backend=backend,
        threads=source.threads,
    )


def preview_html(p: TernarizePreview | BinarizePreview) -> str:
    """The lines beside a preview's histogram."""
    if isinstance(p, BinarizePreview):
        return (
            f"<b>centred sign</b> (naive 1-bit PTQ) beta = {p.beta:.4g}, alpha = {p.alpha:.3g}"
            f"<br>relative L2 error: <b>{p.rel_l2:.3f}</b><br>cosine similarity: "
            f"<b>{p.cosine:.4f}</b><br>-1 / +1 after: {100 * (1 - p.pos_share):.1f}% / "
            f"{100 * p.pos_share:.1f}%"
        )
    return (
        f"<b>absmean</b> gamma = {p.gamma:.4g}<br>relative L2 error: <b>{p.rel_l2:.3f}</b>"
        f"<br>cosine similarity: <b>{p.cosine:.4f}</b><br>zeros after: "
        f"{100 * p.zero_share:.1f}%"
    )
