"""The ``bitnet`` variant's BinaryLinear against quant/binary.py, its STE gradients, the block."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bitnet_studio.quant import binary
from bitnet_studio.train.bitlinear import (
    BinaryLinear,
    BitLinear,
    binarize_weight,
    quantize_activations,
)
from bitnet_studio.train.model import Shape, TinyLM


def _layer(rows: int, cols: int, seed: int, scale: float = 0.02, mean: float = 0.0):
    torch.manual_seed(seed)
    layer = BinaryLinear(cols, rows)
    with torch.no_grad():
        layer.weight.normal_(mean, scale)
    return layer


@pytest.mark.parametrize("scale,mean", [(0.02, 0.0), (1.0, 0.3), (30.0, -5.0), (1e-4, 1e-3)])
def test_binarize_weight_equals_reference_bit_for_bit(scale: float, mean: float) -> None:
    w = _layer(64, 192, seed=1, scale=scale, mean=mean).weight.detach()
    signs, beta = binarize_weight(w)
    ref_signs, ref_beta = binary.binarize(w.numpy())
    assert beta.dtype == torch.float32 and float(beta) == float(ref_beta)
    np.testing.assert_array_equal(signs.numpy().astype(np.int8), ref_signs)
    assert set(np.unique(ref_signs)) == {-1, 1}


def test_sign_of_zero_is_minus_one_after_centring() -> None:
    """Weights equal to their mean are centred to exactly 0 and become -1 (the paper's Sign)."""
    w = torch.tensor([[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]])
    signs, beta = binarize_weight(w)
    assert signs.tolist() == [[-1.0] * 4] * 2 and float(beta) == 0.5
    w = torch.tensor([[1.0, -1.0, 0.0, 2.0]])  # mean 0.5: the 0.0 is below it
    signs, _ = binarize_weight(w)
    np.testing.assert_array_equal(signs.numpy().astype(np.int8), binary.binarize(w.numpy())[0])
    assert signs.tolist() == [[1.0, -1.0, -1.0, 1.0]]


@pytest.mark.parametrize("rows,cols", [(32, 128), (96, 256), (5, 33)])
def test_forward_equals_reference_linear(rows: int, cols: int) -> None:
    layer = _layer(rows, cols, seed=rows + cols)
    x = torch.randn(9, cols, generator=torch.Generator().manual_seed(3))
    y = layer(x).detach().numpy()
    signs, beta = binary.binarize(layer.weight.detach().numpy())
    _, ref = binary.binary_linear_reference(signs, beta, x.numpy())
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())


def test_straight_through_gradients() -> None:
    """d/dW = dy^T x_q and d/dx = dy (W_b beta): Sign and the rounding pass as the identity."""
    layer = _layer(24, 64, seed=6, mean=0.01)
    x = torch.randn(5, 64, generator=torch.Generator().manual_seed(7), requires_grad=True)
    dy = torch.randn(5, 24, generator=torch.Generator().manual_seed(8))
    layer(x).backward(dy)
    signs, beta = binarize_weight(layer.weight.detach())
    x_q = quantize_activations(x.detach())
    assert layer.weight.grad is not None and x.grad is not None
    torch.testing.assert_close(layer.weight.grad, dy.T @ x_q)
    torch.testing.assert_close(x.grad, dy @ (signs * beta))


def test_bitnet_model_gradients_flip_signs() -> None:
    torch.manual_seed(0)
    shape = Shape(
        vocab_size=64, hidden_size=32, intermediate_size=64, n_layers=2, n_heads=2, context=16
    )
    model = TinyLM(shape, "bitnet")
    binaries = [(n, m) for n, m in model.named_modules() if isinstance(m, BinaryLinear)]
    assert len(binaries) == 2 * 7
    assert not any(isinstance(m, BitLinear) for m in model.modules())
    names = set(dict(model.named_parameters()))
    assert {"layers.0.attn_sub_norm.weight", "layers.0.ffn_sub_norm.weight"} <= names
    ids = torch.randint(0, 64, (2, 17))
    logits = model(ids[:, :-1])
    torch.nn.functional.cross_entropy(logits.reshape(-1, 64), ids[:, 1:].reshape(-1)).backward()
    for name, m in binaries:
        assert m.weight.grad is not None and m.weight.grad.abs().sum() > 0, name
    before = {n: binarize_weight(m.weight.detach())[0].clone() for n, m in binaries}
    torch.optim.SGD(model.parameters(), lr=50.0).step()
    flipped = sum(
        int((binarize_weight(m.weight.detach())[0] != before[n]).sum()) for n, m in binaries
    )
    assert flipped > 0


def test_same_start_as_the_other_variants() -> None:
    shape = Shape(
        vocab_size=64, hidden_size=32, intermediate_size=64, n_layers=1, n_heads=2, context=16
    )
    models = {}
    for v in ("vanilla", "bitnet", "b158"):
        torch.manual_seed(3)
        models[v] = TinyLM(shape, v)  # type: ignore[arg-type]
    for v in ("bitnet", "b158"):
        for key, p in models["vanilla"].state_dict().items():
            torch.testing.assert_close(models[v].state_dict()[key], p)
