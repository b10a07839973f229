"""Bundled evaluation texts (digest-checked), the R data reader behind the prose, and the
per-token cost model."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from bitnet_studio.errors import StudioError
from bitnet_studio.evaluate.cost import ENERGY_PJ, energy_pj, token_cost
from bitnet_studio.evaluate.prose import excerpt, read_string_vectors
from bitnet_studio.evaluate.texts import (
    PROSE_SHA256,
    EvalText,
    file_text,
    load_text,
    token_stream,
)
from bitnet_studio.models.ptq import ternarize_model
from bitnet_studio.models.tokenizer import Tokenizer
from tests.tiny_models import make_model


def test_bundled_texts_load_and_match_their_digests() -> None:
    prose = load_text("prose")
    assert prose.sha256 == PROSE_SHA256 and 100_000 < prose.n_bytes < 200_000
    assert prose.parts[0].startswith("PRIDE AND PREJUDICE") and "Chapter 16" in prose.parts[0]
    held = load_text("heldout")
    assert len(held.parts) == 3 and held.n_bytes > 100_000
    assert held.head(100).n_bytes == 300 and held.head(100).sha256 != held.sha256


def test_file_texts_and_their_errors(tmp_path: Path) -> None:
    p = tmp_path / "t.txt"
    p.write_text("héllo wörld\n", encoding="utf-8")
    t = file_text(p)
    assert t.sha256 == hashlib.sha256(p.read_bytes()).hexdigest() and t.n_bytes == 14
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe")
    (tmp_path / "empty.txt").write_text("  \n")
    for name, what in [("bad.txt", "not UTF-8"), ("empty.txt", "no text"), ("nope", "no such")]:
        with pytest.raises(StudioError, match=what):
            file_text(tmp_path / name)
    with pytest.raises(StudioError, match="folder"):
        load_text(str(tmp_path))


def test_token_stream_separates_documents_with_end_of_text() -> None:
    m = make_model("llama")
    tok = Tokenizer.from_spec(m.tokenizer)
    ids = token_stream(tok, m.tokenizer, EvalText("k", "k", ("the fox", "the dog"), "s"))
    fox = tok.encode("the fox", add_bos=False, special=False)
    dog = tok.encode("the dog", add_bos=False, special=False)
    assert ids.tolist() == [1, *fox, 1, *dog, 1]


def _r_vector(strings: list[str]) -> bytes:
    """One record of an R lazy-load database: a character vector, XDR-serialized."""
    body = b"X\n" + struct.pack(">iii", 3, 0x040201, 0x030500)
    body += struct.pack(">i", 5) + b"UTF-8" + struct.pack(">ii", 16, len(strings))
    for s in strings:
        b = s.encode("utf-8")
        body += struct.pack(">ii", 0x00040009 | (1 << 15), len(b)) + b
    return struct.pack(">i", len(body)) + zlib.compress(body)


def test_r_reader_and_excerpt_keep_whole_chapters() -> None:
    lines = ["TITLE", "", "Chapter 1", "", "It is a truth", "universally acknowledged.", ""]
    lines += ["Chapter 2", "", "Another line é.", "", "Chapter 3", "", "x" * 500]
    vectors = read_string_vectors(_r_vector(["other"]) + _r_vector(lines))
    assert vectors[0] == ["other"] and vectors[1] == lines
    text = excerpt(vectors[1], max_bytes=120)
    assert text.startswith("TITLE\n\nChapter 1\n\nIt is a truth universally acknowledged.")
    assert "Another line é." in text and "Chapter 3" not in text


def test_token_cost_counts_float_and_integer_work() -> None:
    m = make_model("llama", seed=1)
    c = m.config
    lin = sum(int(np.prod(t.shape)) for n, t in m.tensors.items() if n.endswith("_proj"))
    attn = 2 * c.n_layers * c.n_heads * c.head_dim * 100
    dense = token_cost(m, 100)
    assert dense.int_adds == 0
    assert dense.float_macs == lin + c.vocab_size * c.hidden_size + attn
    assert dense.kv_bytes == 2 * c.n_layers * c.n_kv_heads * c.head_dim * 100 * 4
    twin = token_cost(ternarize_model(m), 100)
    assert twin.int_adds == lin and twin.float_macs == dense.float_macs - lin
    assert twin.weight_bytes < dense.weight_bytes
    mac7 = ENERGY_PJ["FP16 MUL"][1] + ENERGY_PJ["FP16 ADD"][1]
    assert dense.energy_pj_7nm == pytest.approx(dense.float_macs * mac7)
    assert energy_pj(0, 1000, 45) == pytest.approx(1000 * ENERGY_PJ["INT8 ADD"][0])
    assert twin.energy_pj_7nm < dense.energy_pj_7nm and twin.energy_pj_45nm < dense.energy_pj_45nm
