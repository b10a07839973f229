"""GGUF Q1_0 / Q2_0 files: write, convert, read back exactly; corrupt files refused cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bitnet_studio.cli import main
from bitnet_studio.engine.torch_backend import TorchBackend
from bitnet_studio.errors import StudioError
from bitnet_studio.formats import load_model, write_gguf
from bitnet_studio.formats.gguf_parse import open_gguf
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.models.weights import BinaryTensor, ModelWeights, TernaryTensor
from bitnet_studio.quant.binary import binarize

# q/k/v/o and gate/up take rows of 256, down_proj rows of 200: not whole 128-blocks
ODD = dict(hidden_size=256, intermediate_size=200, n_heads=4, n_kv_heads=2, head_dim=64)
WIDE = dict(hidden_size=256, intermediate_size=512, n_heads=4, n_kv_heads=2, head_dim=64)


def _binary_model(arch: str = "llama", per_block: bool = False, seed: int = 3) -> ModelWeights:
    m = random_model(tiny_config(arch, **WIDE), seed=seed, ternary=False)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    for name in m.linear_names():
        if name == "lm_head":
            continue
        signs, beta = binarize(np.asarray(m.tensors[name], np.float32))
        rows, cols = signs.shape
        beta16 = np.float32(np.float16(beta))
        scale = (
            rng.uniform(0.5, 2, (rows, cols // 128)).astype(np.float16).astype(np.float32)
            if per_block
            else np.array([beta16], np.float32)
        )
        m.tensors[name] = BinaryTensor(signs, scale, "test")
    return m


@pytest.mark.parametrize("arch", ["llama", "qwen3", "bitnet-b1.58"])
@pytest.mark.parametrize("per_block", [False, True])
def test_q1_0_round_trip_is_exact(tmp_path: Path, arch: str, per_block: bool) -> None:
    m = _binary_model(arch, per_block)
    path = tmp_path / "m.gguf"
    report = write_gguf(m, path, "q1_0")
    assert report.notes[-1] == "1-bit: 14 of 14 linears stored as Q1_0"
    back = load_model(path)
    assert back.config.arch == arch and back.config.qk_norm == (arch == "qwen3")
    assert back.config.hidden_act == m.config.hidden_act
    for name in m.linear_names():
        a, b = m.tensors[name], back.tensors[name]
        if isinstance(a, BinaryTensor):
            assert isinstance(b, BinaryTensor) and b.source_type == "Q1_0"
            np.testing.assert_array_equal(b.signs, a.signs)
            np.testing.assert_array_equal(b.scale, a.scale)  # (1,) stays (1,)
            assert back.tensor_types[name] == "Q1_0"
    logits = TorchBackend().load(back).prefill([1, 2, 3])  # the torch backend runs 1-bit linears
    assert np.all(np.isfinite(logits))
    if arch == "qwen3":
        np.testing.assert_array_equal(
            back.tensors["layers.1.self_attn.k_norm"], m.tensors["layers.1.self_attn.k_norm"]
        )


def test_convert_to_q1_0_one_summary_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src, out = tmp_path / "f16.gguf", tmp_path / "q1.gguf"
    write_gguf(random_model(tiny_config("llama", **ODD), seed=1), src, "f16")
    assert main(["convert", str(src), str(out), "--to", "gguf-q1_0"]) == 0
    text = capsys.readouterr().out
    assert "12 x Q1_0" in text
    summary = [ln for ln in text.splitlines() if "1-bit:" in ln]
    assert summary == [
        "note: 1-bit: 12 of 14 linears stored as Q1_0 (12 quantized from float or another type: "
        "centred sign, beta = mean|W|); 2 stay F16 (rows must be whole 128-weight blocks: "
        "2 with rows of 200)"
    ]
    m = load_model(out)
    assert isinstance(m.tensors["layers.0.mlp.up_proj"], BinaryTensor)
    assert m.tensor_types["layers.0.mlp.down_proj"] == "F16"
    assert m.tensors["layers.0.mlp.up_proj"].scale.shape == (1,)


def test_q1_0_file_on_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "q1.gguf"
    write_gguf(_binary_model("qwen3"), path, "q1_0")
    assert main(["inspect", "--model", str(path)]) == 0
    out = capsys.readouterr().out
    assert "architecture: qwen3" in out and "1-bit linears: 14/14" in out
    argv = ["generate", "--model", str(path), "--backend", "torch", "--prompt", "the cat"]
    assert main([*argv, "--raw", "--greedy", "--max-tokens", "8", "--json"]) == 0
    ids = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["ids"]
    assert len(ids) == 8


def test_q2_0_round_trip_into_ternary(tmp_path: Path) -> None:
    m = random_model(tiny_config("bitnet-b1.58", **WIDE), seed=2)
    path = tmp_path / "t.gguf"
    report = write_gguf(m, path, "q2_0")
    assert report.notes[-1] == "ternary: 14 of 14 linears stored as Q2_0"
    assert open_gguf(path).tensors["blk.0.attn_q.weight"].type_id == 42
    back = load_model(path)
    for name in m.linear_names():
        a, b = m.tensors[name], back.tensors[name]
        assert isinstance(a, TernaryTensor) and isinstance(b, TernaryTensor)
        assert b.source_type == "Q2_0"
        np.testing.assert_array_equal(b.codes, a.codes)
        np.testing.assert_array_equal(b.scale, a.scale.astype(np.float16).astype(np.float32))


def _first_linear_data(path: Path, name: str = "blk.0.attn_q.weight") -> tuple[int, int]:
    t = open_gguf(path).tensors[name]
    return t.offset, t.nbytes


def test_q2_0_plus_two_code_refused_on_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "t.gguf"
    write_gguf(random_model(tiny_config("bitnet-b1.58", **WIDE), seed=2), path, "q2_0")
    off, _ = _first_linear_data(path)
    data = bytearray(path.read_bytes())
    data[off + 2] |= 0b11  # element 0 of the first block -> code 3 (+2)
    path.write_bytes(bytes(data))
    assert main(["inspect", "--model", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: ") and "code 3 (+2)" in err and "not ternary" in err


@pytest.mark.parametrize("dtype", ["q1_0", "q2_0"])
def test_truncated_lowbit_file_refused(
    tmp_path: Path, dtype: str, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "m.gguf"
    m = _binary_model() if dtype == "q1_0" else random_model(tiny_config("bitnet-b1.58", **WIDE))
    write_gguf(m, path, dtype)  # type: ignore[arg-type]
    off, n = _first_linear_data(path, "blk.1.ffn_down.weight")
    path.write_bytes(path.read_bytes()[: off + n // 2])
    with pytest.raises(StudioError, match="truncated GGUF"):
        load_model(path)
    assert main(["inspect", "--model", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {path}: truncated GGUF")


@pytest.mark.parametrize("type_id", [41, 42])
def test_lowbit_row_not_whole_blocks_refused(tmp_path: Path, type_id: int) -> None:
    # a norm (1-D, 256 wide) re-labelled Q1_0 / Q2_0 in the header: sizes no longer add up
    path = tmp_path / "m.gguf"
    write_gguf(random_model(tiny_config("llama", **ODD), seed=1), path, "q1_0")
    raw = bytearray(path.read_bytes())
    name = b"blk.0.ffn_down.weight"  # F16 rows of 200
    i = raw.index(name) + len(name)
    n_dims = int.from_bytes(raw[i : i + 4], "little")
    at = i + 4 + 8 * n_dims
    assert int.from_bytes(raw[at : at + 4], "little") == 1  # F16
    raw[at : at + 4] = type_id.to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises(StudioError, match=r"row of 200 is not whole Q[12]_0 blocks"):
        load_model(path)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NaN scales in corrupt blocks
@pytest.mark.parametrize("dtype", ["q1_0", "q2_0"])
def test_mutated_lowbit_files_load_or_fail_cleanly(tmp_path: Path, dtype: str) -> None:
    """Flipped header bytes and truncations: a StudioError or a model, never another
    exception (the error reaches the user as ``error: <file>: ...``)."""
    src = tmp_path / "m.gguf"
    m = _binary_model() if dtype == "q1_0" else random_model(tiny_config("bitnet-b1.58", **WIDE))
    write_gguf(m, src, dtype)  # type: ignore[arg-type]
    data = src.read_bytes()
    f = open_gguf(src)
    header_end = f.data_start
    rng = np.random.default_rng(11)
    bad = tmp_path / "bad.gguf"
    refused = 0
    for i in range(60):
        buf = bytearray(data)
        if i % 3 == 2:
            buf = buf[: int(rng.integers(24, len(buf)))]
        else:
            for _ in range(1 + i % 4):
                at = int(rng.integers(4, header_end))
                buf[at] = int(rng.integers(0, 256))
        bad.write_bytes(bytes(buf))
        try:
            load_model(bad)
        except StudioError as e:
            assert str(e).startswith(f"{bad}: ")
            refused += 1
    assert refused >= 20
