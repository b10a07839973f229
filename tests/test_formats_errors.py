"""Every bad input raises StudioError naming the file, with a message a user can act on."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest

from bitnet_studio.errors import StudioError
from bitnet_studio.formats import common, load_model, write_gguf
from tests.tiny_models import make_model, write_hf_llama


def _raises(path: Path, match: str) -> StudioError:
    with pytest.raises(StudioError, match=match) as info:
        load_model(path)
    err = info.value
    src = Path(err.source or "")
    assert src == path or path in src.parents  # the file itself, or a file in the folder
    assert err.one_line().startswith("error: ")
    return err


@pytest.fixture()
def gguf_file(tmp_path: Path) -> Path:
    path = tmp_path / "m.gguf"
    write_gguf(make_model("llama"), path, "f16")
    return path


def test_missing_file(tmp_path: Path) -> None:
    err = _raises(tmp_path / "nope.gguf", "file not found")
    assert err.source == str(tmp_path / "nope.gguf")


def test_wrong_magic(tmp_path: Path) -> None:
    p = tmp_path / "fake.gguf"
    p.write_bytes(b"GGML" + bytes(64))
    assert _raises(p, "wrong magic").source == str(p)


def test_truncated_header(gguf_file: Path) -> None:
    data = gguf_file.read_bytes()
    gguf_file.write_bytes(data[:200])
    assert _raises(gguf_file, "truncated or corrupt GGUF header").source == str(gguf_file)


def test_tensor_data_past_eof(gguf_file: Path) -> None:
    data = gguf_file.read_bytes()
    gguf_file.write_bytes(data[: len(data) - 100])
    _raises(gguf_file, "past the end of the file")


def test_unknown_quant_type(gguf_file: Path) -> None:
    data = bytearray(gguf_file.read_bytes())
    name = b"blk.0.attn_v.weight"
    at = data.index(name) + len(name)
    (n_dims,) = struct.unpack_from("<I", data, at)
    struct.pack_into("<I", data, at + 4 + 8 * n_dims, 99)  # type id
    gguf_file.write_bytes(bytes(data))
    _raises(gguf_file, "unknown quantization type id 99")


def test_type_36_outside_bitnet_is_not_i2_s(gguf_file: Path) -> None:
    data = bytearray(gguf_file.read_bytes())
    name = b"blk.0.attn_v.weight"
    at = data.index(name) + len(name)
    (n_dims,) = struct.unpack_from("<I", data, at)
    struct.pack_into("<I", data, at + 4 + 8 * n_dims, 36)
    gguf_file.write_bytes(bytes(data))
    _raises(gguf_file, "type id 36, which is not I2_S")


def test_unknown_architecture(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    write_gguf(make_model("llama"), path, "f16")
    data = path.read_bytes().replace(b"llama", b"gpt_x", 1)  # general.architecture value
    path.write_bytes(data)
    _raises(path, "unknown architecture")


def test_shape_disagrees_with_config(tmp_path: Path) -> None:
    m = make_model("llama")
    folder = write_hf_llama(m, tmp_path / "hf", "f32")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["intermediate_size"] = 128
    (folder / "config.json").write_text(json.dumps(cfg))
    assert _raises(folder, "config implies").source == str(folder)


def test_unknown_hf_architecture(tmp_path: Path) -> None:
    folder = write_hf_llama(make_model("llama"), tmp_path / "hf", "f16")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["architectures"] = ["GPT2LMHeadModel"]
    (folder / "config.json").write_text(json.dumps(cfg))
    assert _raises(folder, "unknown architecture").source.endswith("config.json")


@pytest.mark.parametrize("suffix", [".bin", ".pt", ".pth", ".ckpt"])
def test_pickle_checkpoints_are_refused(tmp_path: Path, suffix: str) -> None:
    p = tmp_path / f"pytorch_model{suffix}"
    p.write_bytes(b"\x80\x04not really a pickle")  # never opened as one
    assert _raises(p, "pickle-based checkpoints are refused; convert to safetensors").source == str(
        p
    )
    folder = tmp_path / "withpickle"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["LlamaForCausalLM"],
                "hidden_size": 64,
                "num_attention_heads": 4,
                "vocab_size": 10,
                "intermediate_size": 8,
                "num_hidden_layers": 1,
            }
        )
    )
    (folder / f"pytorch_model{suffix}").write_bytes(b"\x80\x04")
    _raises(folder, "pickle-based checkpoints are refused")


def test_corrupt_safetensors(tmp_path: Path) -> None:
    folder = write_hf_llama(make_model("llama"), tmp_path / "hf", "f16")
    shard = sorted(folder.glob("*.safetensors"))[0]
    data = shard.read_bytes()
    shard.write_bytes(struct.pack("<Q", len(data) * 2) + data[8:])
    assert _raises(folder, "header length").source == str(shard)
    shard.write_bytes(data[: len(data) - 16])
    assert _raises(folder, "truncated safetensors").source == str(shard)
    shard.write_bytes(data[:8] + b"{not json" + data[17:])
    _raises(folder, "not JSON")


def test_missing_config_and_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _raises(tmp_path / "empty", "not a model folder")


@pytest.mark.parametrize("kind", ["gguf", "hf"])
def test_model_larger_than_memory(tmp_path: Path, kind: str, monkeypatch) -> None:
    monkeypatch.setattr(common, "available_memory_bytes", lambda: 1000)
    if kind == "gguf":
        path = tmp_path / "b.gguf"
        write_gguf(make_model("bitnet-b1.58"), path, "tq2_0")  # codes must be materialised
    else:
        path = write_hf_llama(make_model("llama"), tmp_path / "hf", "bf16")
    assert _raises(path, "GiB of memory").source == str(path)


def _rewrite_offsets(shard: Path, edit) -> None:  # type: ignore[no-untyped-def]
    """Rewrites a shard's JSON header through ``edit(header)``, keeping the data bytes."""
    data = shard.read_bytes()
    (n,) = struct.unpack_from("<Q", data)
    header = json.loads(data[8 : 8 + n])
    edit(header)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    shard.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])


def _same_shape_pair(header: dict) -> tuple[str, str]:
    names = [k for k in header if k != "__metadata__"]
    by_shape: dict = {}
    for k in names:
        by_shape.setdefault((header[k]["dtype"], tuple(header[k]["shape"])), []).append(k)
    pair = next(v for v in by_shape.values() if len(v) >= 2)
    return pair[0], pair[1]


def test_overlapping_safetensors_offsets_are_refused(tmp_path: Path) -> None:
    """Two same-shaped tensors sharing one byte range would load as aliases: the format
    forbids overlaps (huggingface/safetensors Metadata::validate), so we refuse the file."""
    folder = write_hf_llama(make_model("llama"), tmp_path / "hf", "f16")
    shard = sorted(folder.glob("*.safetensors"))[0]

    def alias(header: dict) -> None:
        a, b = _same_shape_pair(header)
        header[b]["data_offsets"] = list(header[a]["data_offsets"])

    _rewrite_offsets(shard, alias)
    err = _raises(folder, "overlaps")
    assert err.source == str(shard) and "forbids overlapping" in err.message


def test_safetensors_holes_are_refused(tmp_path: Path) -> None:
    folder = write_hf_llama(make_model("llama"), tmp_path / "hf", "f16")
    shard = sorted(folder.glob("*.safetensors"))[0]
    good = shard.read_bytes()
    shard.write_bytes(good + bytes(64))  # trailing unindexed bytes
    assert _raises(folder, "after the last tensor").source == str(shard)
    shard.write_bytes(good)

    def drop_first(header: dict) -> None:
        names = [k for k in header if k != "__metadata__"]
        del header[min(names, key=lambda k: header[k]["data_offsets"])]

    _rewrite_offsets(shard, drop_first)
    assert _raises(folder, "unindexed bytes before").source == str(shard)


def test_dims_whose_product_wraps_int64_are_refused(gguf_file: Path) -> None:
    """2^32 x 2^32 elements wrap to 0 in int64: sized exactly, the tensor runs past the end
    of the file (a clear error, not a zero-byte view or an attempt to allocate it)."""
    data = bytearray(gguf_file.read_bytes())
    name = b"blk.0.attn_v.weight"
    at = data.index(name) + len(name)
    (n_dims,) = struct.unpack_from("<I", data, at)
    assert n_dims == 2
    struct.pack_into("<QQ", data, at + 4, 2**32, 2**32)
    gguf_file.write_bytes(bytes(data))
    _raises(gguf_file, "past the end of the file")


def test_huge_layer_count_is_refused_quickly(gguf_file: Path) -> None:
    """block_count overwritten with 2^32 - 1 used to list 4 billion layers' tensors (minutes,
    then MemoryError); now it is a one-line error."""
    data = bytearray(gguf_file.read_bytes())
    key = b"llama.block_count"
    at = data.index(key) + len(key) + 4  # skip the value type
    struct.pack_into("<I", data, at, 2**32 - 1)
    gguf_file.write_bytes(bytes(data))
    t0 = time.perf_counter()
    _raises(gguf_file, "the config says 4294967295 layers, the file holds tensors for 2")
    assert time.perf_counter() - t0 < 10
