"""BitLinear b1.58 against the reference quantization math, and its straight-through gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bitnet_studio.quant import absmean
from bitnet_studio.train.bitlinear import BitLinear, quantize_activations, ternarize_weight
from bitnet_studio.train.model import Shape, TinyLM


def _layer(rows: int, cols: int, seed: int, scale: float = 0.02) -> BitLinear:
    torch.manual_seed(seed)
    layer = BitLinear(cols, rows)
    with torch.no_grad():
        layer.weight.normal_(0.0, scale)
    return layer


@pytest.mark.parametrize("scale", [0.02, 1.0, 30.0])
def test_ternarize_weight_matches_reference(scale: float) -> None:
    w = _layer(48, 96, seed=1, scale=scale).weight.detach()
    codes, gamma = ternarize_weight(w)
    ref_codes, ref_gamma = absmean.ternarize(w.numpy())
    assert float(gamma) == float(ref_gamma)
    np.testing.assert_array_equal(codes.numpy().astype(np.int8), ref_codes)
    assert set(np.unique(ref_codes)) <= {-1, 0, 1} and len(np.unique(ref_codes)) == 3


def test_quantize_activations_matches_reference() -> None:
    x = torch.randn(7, 96, generator=torch.Generator().manual_seed(2)) * 3
    x[3] = 0.0  # an all-zero token: the clamp keeps the scale finite
    x_q, s = absmean.quantize_activations(x.numpy())
    expected = x_q.astype(np.float32) / s[:, None]
    np.testing.assert_allclose(quantize_activations(x).numpy(), expected, rtol=1e-6, atol=0)


@pytest.mark.parametrize("rows,cols", [(32, 64), (96, 256), (5, 33)])
def test_forward_equals_reference_linear(rows: int, cols: int) -> None:
    layer = _layer(rows, cols, seed=rows + cols)
    x = torch.randn(9, cols, generator=torch.Generator().manual_seed(3))
    y = layer(x).detach().numpy()
    codes, gamma = absmean.ternarize(layer.weight.detach().numpy())
    _, ref = absmean.ternary_linear_reference(codes, gamma, x.numpy())
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())


def test_forward_batched_over_leading_axes() -> None:
    layer = _layer(16, 64, seed=4)
    x = torch.randn(2, 5, 64, generator=torch.Generator().manual_seed(5))
    flat = layer(x.reshape(10, 64))
    torch.testing.assert_close(layer(x), flat.reshape(2, 5, 16))


def test_straight_through_gradients() -> None:
    """d/dW = dy^T x_q and d/dx = dy W_q: the roundings pass gradients as the identity."""
    layer = _layer(24, 64, seed=6)
    x = torch.randn(5, 64, generator=torch.Generator().manual_seed(7), requires_grad=True)
    dy = torch.randn(5, 24, generator=torch.Generator().manual_seed(8))
    layer(x).backward(dy)
    codes, gamma = ternarize_weight(layer.weight.detach())
    x_q = quantize_activations(x.detach())
    assert layer.weight.grad is not None and x.grad is not None
    torch.testing.assert_close(layer.weight.grad, dy.T @ x_q)
    torch.testing.assert_close(x.grad, dy @ (codes * gamma))


def test_gradients_reach_every_latent_weight_of_the_b158_model() -> None:
    torch.manual_seed(0)
    shape = Shape(
        vocab_size=64, hidden_size=32, intermediate_size=64, n_layers=2, n_heads=2, context=16
    )
    model = TinyLM(shape, "b158")
    ids = torch.randint(0, 64, (2, 17))
    logits = model(ids[:, :-1])
    torch.nn.functional.cross_entropy(logits.reshape(-1, 64), ids[:, 1:].reshape(-1)).backward()
    bitlinears = [(n, m) for n, m in model.named_modules() if isinstance(m, BitLinear)]
    assert len(bitlinears) == 2 * 7
    for name, m in bitlinears:
        assert m.weight.grad is not None, name
        assert m.weight.grad.abs().sum() > 0, name
    # an SGD step moves the latent weights, and enough of them flip a ternary code
    before = {n: ternarize_weight(m.weight.detach())[0].clone() for n, m in bitlinears}
    opt = torch.optim.SGD(model.parameters(), lr=50.0)
    opt.step()
    flipped = sum(
        int((ternarize_weight(m.weight.detach())[0] != before[n]).sum()) for n, m in bitlinears
    )
    assert flipped > 0


def test_vanilla_model_has_no_bitlinear_and_b158_has_sub_norms() -> None:
    shape = Shape(
        vocab_size=64, hidden_size=32, intermediate_size=64, n_layers=1, n_heads=2, context=16
    )
    vanilla, b158 = TinyLM(shape, "vanilla"), TinyLM(shape, "b158")
    assert not any(isinstance(m, BitLinear) for m in vanilla.modules())
    names = set(dict(b158.named_parameters()))
    assert {"layers.0.attn_sub_norm.weight", "layers.0.ffn_sub_norm.weight"} <= names
    with pytest.raises(ValueError, match="unknown variant"):
        TinyLM(shape, "int4")  # type: ignore[arg-type]
