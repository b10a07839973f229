"""A trained model exported as GGUF loads in the engine and gives the training model's logits."""

from __future__ import annotations

import copy
from functools import cache

import numpy as np
import pytest
import torch

from bitnet_studio.engine.registry import make_backend
from bitnet_studio.engine.torch_model import TorchModel
from bitnet_studio.formats import load_model
from bitnet_studio.models.tokenizer import Tokenizer as EngineTokenizer
from bitnet_studio.models.weights import BinaryTensor, TernaryTensor
from bitnet_studio.quant import binary
from bitnet_studio.train.bitlinear import BinaryLinear, BitLinear, binarize_weight, ternarize_weight
from bitnet_studio.train.export import export_gguf
from bitnet_studio.train.model import Shape
from bitnet_studio.train.trainer import Trainer
from tests.lowbit_fixtures import NATIVE_BINARY_READY
from tests.train_fixtures import VOCAB, tiny_recipe, token_data, tokenizer

# TQ2_0 packs rows of a multiple of 256 weights: hidden and intermediate sizes are 256.
SHAPE = Shape(
    vocab_size=VOCAB, hidden_size=256, intermediate_size=256, n_layers=1, n_heads=2, context=32
)
TEXT = "ROMEO. What light through yonder window breaks? It is the east"


@cache
def trained(variant: str) -> Trainer:
    torch.set_num_threads(1)
    t = Trainer(variant, tiny_recipe(shape=SHAPE, steps=8), tokenizer(), token_data())  # type: ignore[arg-type]
    t.run()
    return t


@cache
def exported(variant: str, tmp: str) -> tuple:
    from pathlib import Path

    path = Path(tmp) / f"{variant}.gguf"
    report = export_gguf(trained(variant).model, tokenizer(), path)
    return path, report


@pytest.fixture(scope="module")
def tmp_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("export"))


def _training_logits(variant: str, ids: list[int], as_stored: bool = False) -> np.ndarray:
    """The training model's logits; ``as_stored``: with its weights rounded as the file keeps
    them (embedding F16, each ternary tensor's gamma F16, vanilla linears F16)."""
    model = copy.deepcopy(trained(variant).model).eval()
    with torch.no_grad():
        if as_stored:
            for name, p in model.named_parameters():
                module = model.get_submodule(name.rsplit(".", 1)[0])
                if isinstance(module, BinaryLinear):
                    _, beta = binarize_weight(p)
                    p.mul_(beta.half().float() / beta)  # same signs, the stored beta
                elif isinstance(module, BitLinear):
                    _, gamma = ternarize_weight(p)
                    p.mul_(gamma.half().float() / gamma)  # same codes, the stored scale
                elif p.ndim == 2:
                    p.copy_(p.half().float())
        return model(torch.tensor([ids]))[0].float().numpy()


@pytest.mark.parametrize("variant", ["vanilla", "bitnet", "b158"])
@pytest.mark.parametrize("backend", ["torch", "native"])
def test_exported_model_matches_training_logits(variant: str, backend: str, tmp_dir) -> None:
    if variant == "bitnet" and backend == "native" and not NATIVE_BINARY_READY:
        pytest.skip("native BinaryTensor support (binkern) not merged yet")
    path, _ = exported(variant, tmp_dir)
    weights = load_model(path)
    ids = tokenizer().encode(TEXT).ids
    ref = _training_logits(variant, ids)
    stored = _training_logits(variant, ids, as_stored=True)
    if backend == "torch":
        got = TorchModel(weights).forward(torch.tensor(ids), all_logits=True).float().numpy()
    else:
        session = make_backend("native").load(weights, threads=1)
        try:
            got = np.asarray(session.prefill(ids, all_logits=True), np.float32)
        finally:
            session.close()
    scale = float(np.abs(ref).max())
    # the weights the file holds give the engine's logits up to float rounding
    assert np.abs(got - stored).max() / scale < 2e-4, (variant, backend)
    # and the file holds the trained model up to F16 rounding
    assert np.abs(got - ref).max() / scale < 1e-2, (variant, backend)
    assert (got.argmax(-1) == ref.argmax(-1)).mean() > 0.95


def test_ternary_export_is_packed_and_the_arch_is_bitnet(tmp_dir) -> None:
    t_path, t_report = exported("b158", tmp_dir)
    v_path, v_report = exported("vanilla", tmp_dir)
    assert (t_report.arch, v_report.arch) == ("bitnet-b1.58", "llama")
    weights = load_model(t_path)
    assert weights.config.arch == "bitnet-b1.58" and weights.config.hidden_act == "relu2"
    linears = [k for k in weights.tensors if k.endswith("_proj")]
    assert len(linears) == 7
    for k in linears:
        t = weights.tensors[k]
        assert isinstance(t, TernaryTensor), k
        assert set(np.unique(t.codes)) <= {-1, 0, 1}
    assert sum("sub_norm" in k for k in weights.tensors) == 2
    # the linears take 2.06 bits per weight instead of 16
    linear_params = 4 * 256 * 256 + 3 * 256 * 256
    saved = v_path.stat().st_size - t_path.stat().st_size
    assert saved > linear_params * (16 - 2.1) / 8 * 0.95


def test_binary_export_is_q1_0_with_the_trained_signs(tmp_dir) -> None:
    b_path, b_report = exported("bitnet", tmp_dir)
    t_path, _ = exported("b158", tmp_dir)
    assert b_report.arch == "bitnet-b1.58"  # the BitNet block: sub-norms, squared ReLU
    weights = load_model(b_path)
    assert weights.config.arch == "bitnet-b1.58" and weights.config.hidden_act == "relu2"
    model = trained("bitnet").model
    linears = [k for k in weights.tensors if k.endswith("_proj")]
    assert len(linears) == 7 and sum("sub_norm" in k for k in weights.tensors) == 2
    for k in linears:
        t = weights.tensors[k]
        assert isinstance(t, BinaryTensor), k
        assert weights.tensor_types.get(k, "Q1_0") == "Q1_0"
        latent = model.get_submodule(k.replace("self_attn.", "").replace("mlp.", "")).weight
        signs, beta = binary.binarize(latent.detach().numpy())
        np.testing.assert_array_equal(t.signs, signs)  # the signs exactly as trained
        assert np.allclose(t.scale, np.float16(beta))  # beta in every block's d
    # 1.125 bits per weight against TQ2_0's 2.06: the 1-bit file is smaller still
    linear_params = 7 * 256 * 256
    saved = t_path.stat().st_size - b_path.stat().st_size
    assert saved > linear_params * (2.0625 - 1.125) / 8 * 0.95


def test_exported_tokenizer_and_template(tmp_dir, caplog) -> None:
    path, _ = exported("b158", tmp_dir)
    weights = load_model(path)
    tok = EngineTokenizer.from_spec(weights.tokenizer)
    assert "not one we rebuild" not in caplog.text  # the writer's "gpt-2" pre is known
    assert tok.encode(TEXT, add_bos=False) == tokenizer().encode(TEXT).ids
    assert tok.decode(tokenizer().encode(TEXT).ids) == TEXT
    assert weights.tokenizer.eos_token_ids == [0] and weights.tokenizer.bos_token_id == 0
