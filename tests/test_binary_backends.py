"""Binary (1-bit, original BitNet) linears end to end: native runtime against torch.

Both sides quantize activations per token to int8 and compute exact integer products
(per tensor) or exact per-block integer partial sums times the block's scale (Q1_0), so
logits differ only by float32 rounding and greedy tokens must agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bitnet_studio import kernels
from bitnet_studio.engine.native_backend import NativeBackend
from bitnet_studio.engine.torch_backend import TorchBackend
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.models.weights import BinaryTensor, ModelWeights, TernaryTensor
from bitnet_studio.quant.binary import binarize

# Widths that are multiples of no block size (binary blocks are 128 columns).
ODD = dict(hidden_size=96, intermediate_size=200, n_heads=6, n_kv_heads=2, head_dim=16)
PROMPT = [5, 17, 33, 2, 99, 150, 7, 8, 9, 10, 250, 1, 44]
RTOL = 1e-4


@pytest.fixture(params=[1, 2], ids=["t1", "t2"])
def threads(request: pytest.FixtureRequest) -> Any:
    before = kernels.get_threads()
    yield int(request.param)
    kernels.set_threads(before)


def binary_model(arch: str, scales: str, seed: int = 0) -> ModelWeights:
    """A tiny random model whose linears are all BinaryTensors (float matrices kept fp32)."""
    m = random_model(tiny_config(arch, **ODD), seed=seed)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed + 100)
    tensors: dict[str, Any] = {}
    for name, t in m.tensors.items():
        dense = t.dequantize() if isinstance(t, TernaryTensor) else np.asarray(t, np.float32)
        if name.endswith("_proj"):
            signs, beta = binarize(dense + 0.02 * rng.standard_normal(dense.shape))
            if scales == "tensor":
                scale = np.array([beta], np.float32)
            elif scales == "uniform-blocks":  # one beta stored in every block, as Q1_0 does
                scale = np.full((dense.shape[0], -(-dense.shape[1] // 128)), beta, np.float32)
            else:
                shape = (dense.shape[0], -(-dense.shape[1] // 128))
                scale = (beta * rng.uniform(0.5, 1.5, shape)).astype(np.float32)
            tensors[name] = BinaryTensor(signs, scale, "test")
        else:
            tensors[name] = (
                dense.astype(np.float16).astype(np.float32) if dense.ndim == 2 else dense
            )
    return ModelWeights(config=m.config, tensors=tensors, tokenizer=m.tokenizer)


def close(a: np.ndarray, b: np.ndarray) -> float:
    err = float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))
    assert err < RTOL, f"max relative error {err:.2e}"
    return err


@pytest.mark.parametrize("scales", ["tensor", "uniform-blocks", "blocks"])
@pytest.mark.parametrize("arch", ["bitnet-b1.58", "llama"])
def test_binary_logits_match_torch(arch: str, scales: str, threads: int) -> None:
    m = binary_model(arch, scales)
    nat = NativeBackend(weight_dtype="f32").load(m, threads=threads)
    ref = TorchBackend().load(m)
    close(nat.prefill(PROMPT), ref.prefill(PROMPT))
    for tok in (3, 299, 0, 42):
        close(nat.decode(tok), ref.decode(tok))


@pytest.mark.parametrize("scales", ["tensor", "blocks"])
def test_binary_greedy_tokens_identical(scales: str) -> None:
    m = binary_model("bitnet-b1.58", scales, seed=3)
    nat = NativeBackend(weight_dtype="f32").load(m, threads=2)
    ref = TorchBackend().load(m)
    ln, lr = nat.prefill(PROMPT, all_logits=False)[-1], ref.prefill(PROMPT, all_logits=False)[-1]
    out_n: list[int] = []
    out_r: list[int] = []
    for _ in range(32):
        close(ln, lr)
        out_n.append(int(np.argmax(ln)))
        out_r.append(int(np.argmax(lr)))
        ln, lr = nat.decode(out_n[-1]), ref.decode(out_r[-1])
    assert out_n == out_r
    assert len(set(out_n)) > 1  # the model is not stuck on one token


def test_binary_linears_take_one_bit_per_weight() -> None:
    m = binary_model("bitnet-b1.58", "tensor")
    nat = NativeBackend(weight_dtype="f32").load(m, threads=1)
    cfg = m.config
    per_layer = (
        cfg.hidden_size * (cfg.n_heads + 2 * cfg.n_kv_heads) * cfg.head_dim  # q, k, v
        + cfg.n_heads * cfg.head_dim * cfg.hidden_size  # o
        + 3 * cfg.hidden_size * cfg.intermediate_size  # gate, up, down
    )
    linear_bytes = nat.memory()["attention"] + nat.memory()["mlp"]
    # 1 bit per weight, rows padded to 128 columns, one float scale per matrix
    assert per_layer * cfg.n_layers / 8 <= linear_bytes < per_layer * cfg.n_layers / 8 * 2


def test_binary_weight_with_wrong_scale_count_is_refused() -> None:
    m = binary_model("llama", "tensor")
    name = "layers.0.mlp.up_proj"
    t = m.tensors[name]
    bad = np.random.default_rng(0).uniform(0.5, 1.0, (t.signs.shape[0], 3)).astype(np.float32)
    m.tensors[name] = BinaryTensor(t.signs, bad)  # 96 columns are 1 block, not 3
    with pytest.raises(ValueError, match="scale"):
        NativeBackend().load(m, threads=1)
