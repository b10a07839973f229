"""The native C++ runtime against the float32 torch reference (engine/torch_backend.py).

Ternary models: the integer products are exact on both sides, so logits differ only by
float32 rounding (summation order in norms, attention, head). Vanilla fp16: the reference
runs on the same fp16-rounded weights, and the native fp16 kernels accumulate in float32,
so the same bound holds.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from bitnet_studio import kernels
from bitnet_studio.engine.native_backend import Aborted, NativeBackend, rope_inv_freq
from bitnet_studio.engine.torch_backend import TorchBackend
from bitnet_studio.errors import StudioError
from bitnet_studio.models.config import ModelConfig
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.models.weights import ModelWeights, TernaryTensor

# Shapes that are multiples of no block size (I2 blocks are 128, B3 160, SIMD 16 rows).
ODD = dict(hidden_size=96, intermediate_size=200, n_heads=6, n_kv_heads=2, head_dim=16)
PROMPT = [5, 17, 33, 2, 99, 150, 7, 8, 9, 10, 250, 1, 44]
RTOL, ATOL = 1e-4, 1e-4  # relative to the logits' scale (std ~2)


@pytest.fixture(params=[1, 2], ids=["t1", "t2"])
def threads(request: pytest.FixtureRequest) -> Any:
    before = kernels.get_threads()
    yield int(request.param)
    kernels.set_threads(before)


def fp16_rounded(m: ModelWeights) -> ModelWeights:
    """The same model with every float matrix rounded to fp16 (what the native side stores;
    norms and biases stay float32)."""
    t = {
        n: v
        if isinstance(v, TernaryTensor) or v.ndim == 1
        else v.astype(np.float16).astype(np.float32)
        for n, v in m.tensors.items()
    }
    return ModelWeights(config=m.config, tensors=t, tokenizer=m.tokenizer)


def close(a: np.ndarray, b: np.ndarray, rtol: float = RTOL) -> float:
    """Max error relative to the reference's largest |logit|; asserts it is below rtol."""
    err = float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))
    assert err < rtol, f"max relative error {err:.2e}"
    return err


def run_both(m: ModelWeights, threads: int, **native: Any) -> tuple[Any, Any]:
    ref_model = fp16_rounded(m) if native.get("weight_dtype", "f16") == "f16" else m
    return NativeBackend(**native).load(m, threads=threads), TorchBackend().load(ref_model)


CASES = {
    "bitnet-tied": ("bitnet-b1.58", {}),
    "bitnet-untied": ("bitnet-b1.58", {"tie_word_embeddings": False}),
    "llama-untied": ("llama", {}),
    "llama-tied-bias": ("llama", {"tie_word_embeddings": True, "attention_bias": True}),
    "llama-ternary": ("llama", {"n_kv_heads": 3}),
    "llama-mha": ("llama", {"n_kv_heads": 6}),
}


def case_model(name: str, seed: int = 0) -> ModelWeights:
    arch, over = CASES[name]
    cfg = tiny_config(arch, **{**ODD, **over})  # type: ignore[arg-type]
    return random_model(cfg, seed=seed, ternary=True if name == "llama-ternary" else None)


@pytest.mark.parametrize("case", list(CASES))
def test_prefill_and_decode_match_reference(case: str, threads: int) -> None:
    nat, ref = run_both(case_model(case), threads)
    close(nat.prefill(PROMPT), ref.prefill(PROMPT))
    for tok in (3, 299, 0, 42):
        close(nat.decode(tok), ref.decode(tok))
    assert nat.n_past == ref.n_past == len(PROMPT) + 4


@pytest.mark.parametrize("weight_dtype", ["f16", "f32"])
@pytest.mark.parametrize("arch", ["llama", "bitnet-b1.58"])
def test_greedy_64_tokens_identical(arch: str, weight_dtype: str) -> None:
    m = random_model(tiny_config(arch, **ODD), seed=3)  # type: ignore[arg-type]
    nat, ref = run_both(m, threads=2, weight_dtype=weight_dtype)
    ln, lr = nat.prefill(PROMPT, all_logits=False)[-1], ref.prefill(PROMPT, all_logits=False)[-1]
    worst = close(ln, lr)
    out_n: list[int] = []
    out_r: list[int] = []
    for _ in range(64):
        out_n.append(int(np.argmax(ln)))
        out_r.append(int(np.argmax(lr)))
        ln, lr = nat.decode(out_n[-1]), ref.decode(out_r[-1])
        worst = max(worst, close(ln, lr))
    assert out_n == out_r
    assert worst < RTOL


@pytest.mark.parametrize("chunk", [1, 4, 64])
def test_prefill_then_decode_equals_decode_only(chunk: int, threads: int) -> None:
    m = case_model("bitnet-untied")
    a = NativeBackend(chunk=chunk).load(m, threads=threads)
    b = NativeBackend().load(m, threads=threads)
    la = a.prefill(PROMPT)
    lb = np.stack([b.decode(t) for t in PROMPT])
    np.testing.assert_allclose(la, lb, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a.decode(11), b.decode(11), rtol=1e-5, atol=1e-5)
    last = a.prefill([4, 5, 6], all_logits=False)
    assert last.shape == (1, m.config.vocab_size)
    np.testing.assert_allclose(last[0], [b.decode(t) for t in (4, 5, 6)][-1], rtol=1e-5, atol=1e-5)


def test_thread_counts_agree() -> None:
    m = case_model("llama-untied")
    outs = []
    for t in (1, 2):
        s = NativeBackend().load(m, threads=t)
        outs.append(np.vstack([s.prefill(PROMPT), s.decode(9)[None]]))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-6, atol=1e-6)


def test_reset_and_truncate() -> None:
    s = NativeBackend().load(case_model("bitnet-tied"), threads=1)
    first = s.prefill(PROMPT)
    s.decode(3)
    s.reset()
    assert s.n_past == 0
    np.testing.assert_array_equal(s.prefill(PROMPT), first)
    s.truncate(5)
    assert s.n_past == 5
    np.testing.assert_array_equal(s.prefill(PROMPT[5:]), first[5:])
    with pytest.raises(ValueError):
        s.truncate(100)


def test_bad_inputs_raise() -> None:
    m = case_model("llama-untied")
    s = NativeBackend(n_ctx=16).load(m, threads=1)
    assert s.n_ctx == 16
    with pytest.raises(ValueError, match="outside the vocabulary"):
        s.decode(m.config.vocab_size)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        s.decode(-1)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        s.prefill([1, 2, 300])
    with pytest.raises(ValueError):
        s.prefill([])
    assert s.n_past == 0  # rejected calls change nothing
    s.prefill(list(range(10)))
    with pytest.raises(ValueError, match="context overflow"):
        s.prefill(list(range(7)))
    assert s.n_past == 10
    s.prefill(list(range(6)))
    with pytest.raises(StudioError, match="context overflow"):
        s.decode(1)
    with pytest.raises(ValueError):
        s.decode(1, out=np.empty(5, np.float32))
    s.close()
    with pytest.raises(RuntimeError):
        s.decode(1)


def test_missing_or_misshapen_weights_raise() -> None:
    m = case_model("bitnet-tied")
    del m.tensors["layers.1.ffn_sub_norm"]
    with pytest.raises(ValueError, match="ffn_sub_norm"):
        NativeBackend().load(m)
    m = case_model("llama-untied")
    m.tensors["layers.0.mlp.up_proj"] = m.tensors["layers.0.mlp.up_proj"][:, :50]
    with pytest.raises(ValueError, match="up_proj"):
        NativeBackend().load(m)


def test_abort_stops_prefill_between_chunks() -> None:
    cfg = tiny_config(
        "bitnet-b1.58",
        hidden_size=256,
        intermediate_size=512,
        n_layers=4,
        n_heads=8,
        n_kv_heads=4,
        head_dim=32,
        max_position=4096,
    )
    s = NativeBackend(chunk=8).load(random_model(cfg, seed=0), threads=1)
    done = threading.Event()

    def spam() -> None:
        while not done.is_set():
            s.abort()

    th = threading.Thread(target=spam)
    th.start()
    try:
        with pytest.raises(Aborted):
            s.prefill(np.arange(2000) % 300, all_logits=False)
    finally:
        done.set()
        th.join()
    assert s.n_past % 8 == 0 and s.n_past < 2000
    s.prefill([1, 2, 3])  # still usable afterwards
    assert s.n_past % 8 == 3


def test_b3_layout_and_f32_weights_match() -> None:
    m = case_model("bitnet-untied")
    ref = TorchBackend().load(m).prefill(PROMPT)
    close(NativeBackend(weight_dtype="f32", layout="b3").load(m).prefill(PROMPT), ref)


def test_int8_head_is_close() -> None:
    m = case_model("llama-untied")
    a = NativeBackend(head_dtype="i8").load(m).prefill(PROMPT)
    b = NativeBackend().load(m).prefill(PROMPT)
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cos.min() > 0.999
    assert np.mean(np.argmax(a, 1) == np.argmax(b, 1)) >= 0.9


def test_rope_scaling_llama3_matches() -> None:
    scaling = {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64,
    }
    cfg = tiny_config("llama", **{**ODD, "rope_scaling": scaling, "head_dim": 16})
    from bitnet_studio.engine.torch_model import rope_inv_freq as torch_inv

    np.testing.assert_allclose(rope_inv_freq(cfg), torch_inv(cfg).numpy(), rtol=1e-6)
    nat, ref = run_both(random_model(cfg, seed=5), threads=1)
    toks = list(np.arange(100) * 7 % 300)
    close(nat.prefill(toks), ref.prefill(toks))


def test_memory_by_component() -> None:
    cfg: ModelConfig = tiny_config("bitnet-b1.58", **ODD)
    s = NativeBackend(n_ctx=32).load(random_model(cfg, seed=0))
    mem = s.memory()
    assert mem["head"] == 0  # tied: the head is the embedding table
    assert mem["embeddings"] == cfg.vocab_size * cfg.hidden_size * 2
    assert mem["kv_cache"] == 2 * cfg.n_layers * cfg.n_kv_heads * cfg.head_dim * 32 * 4
    # I2 packs 4 weights per byte (rows padded to 128 columns) + one float scale per tensor
    per_layer = 2 * (96 * 128 // 4) + 2 * (32 * 128 // 4) + 4 * 4
    assert mem["attention"] == cfg.n_layers * per_layer


def test_fp16_weights_are_not_copied() -> None:
    m = random_model(tiny_config("llama", **ODD), seed=0, dtype="float16")
    w = m.tensors["layers.0.mlp.down_proj"]
    s = NativeBackend().load(m)
    before = s.prefill(PROMPT[:3])
    w[:] = 0  # the runtime reads the caller's array in place
    s.reset()
    assert not np.array_equal(s.prefill(PROMPT[:3]), before)


@pytest.mark.parametrize("path", kernels.available_paths())
@pytest.mark.parametrize("case", ["llama-ternary", "bitnet-tied", "bitnet-untied"])
def test_logits_do_not_depend_on_how_the_prompt_is_split(path: str, case: str) -> None:
    """Prefill attends four tokens at a time and decode four GQA heads at a time; both
    accumulate exactly like one token and one head alone, so every split of a prompt
    (all at once, one token at a time, odd chunks) gives bit-identical logits. (Ternary
    linears are exact integer sums; the float GEMMs are only close across batch sizes.)"""
    before = kernels.active_path()
    kernels.set_path(path)
    try:
        s = NativeBackend().load(case_model(case), threads=2)
        whole = s.prefill(PROMPT)
        s.reset()
        one_by_one = np.vstack([s.decode(t)[None] for t in PROMPT])
        s.reset()
        chunks = np.vstack([s.prefill(PROMPT[:3]), s.prefill(PROMPT[3:8]), s.prefill(PROMPT[8:])])
    finally:
        kernels.set_path(before)
    np.testing.assert_array_equal(one_by_one, whole)
    np.testing.assert_array_equal(chunks, whole)
