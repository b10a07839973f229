"""Tokenizer: a ``tokenizers.Tokenizer`` built from a tokenizer.json or from GGUF metadata.

GGUF (``tokenizer.ggml.*``, llama.cpp ``src/llama-vocab.cpp``):
- model ``gpt2``: byte-level BPE; tokens are stored in GPT-2's byte-to-unicode form and
  merges as ``"left right"`` strings. ``tokenizer.ggml.pre`` names the pre-tokenizer regexes;
  we rebuild the ones llama.cpp uses for the flavours below.
- model ``llama``: SentencePiece BPE with per-token scores and ``<0xXX>`` byte fallback; we
  derive BPE merges from the scores (a pair merges when the joined piece is in the vocab,
  best score first), prefix a space after every special token as llama.cpp does.
Token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers
from tokenizers import Tokenizer as HFTokenizer

from bitnet_studio.errors import StudioError
from bitnet_studio.models.weights import ModelWeights, TokenizerSpec

log = logging.getLogger(__name__)

# GPT-2's word regex (also the ByteLevel pre-tokenizer's built-in one).
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
# llama.cpp LLAMA_VOCAB_PRE_TYPE_LLAMA3 (HF writes the contractions as (?i:...)).
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# llama.cpp LLAMA_VOCAB_PRE_TYPE_QWEN2 / STABLELM2: digits one at a time.
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# tokenizer.ggml.pre values whose regexes are "\p{N}" then GPT-2's (llama-vocab.cpp groups
# STARCODER, REFACT, COMMAND_R, SMOLLM, CODESHELL, EXAONE, MINERVA together).
_DIGITS_THEN_GPT2 = {"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva"}
_GPT2 = {"gpt2", "gpt-2", "phi-2", "default", "mpt", "olmo", "jais", "trillion", "granite-docling"}
_LLAMA3 = {"llama3", "llama-v3", "llama-bpe", "dbrx", "smaug-bpe", "falcon3"}
_QWEN2 = {"qwen2", "stablelm2", "hunyuan"}
# llama.cpp also ends generation at these control tokens when the vocab has them.
END_OF_GENERATION_TEXTS = (
    "<|endoftext|>",
    "<|im_end|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|end|>",
    "<end_of_turn>",
    "</s>",
)
CONTROL, USER_DEFINED, UNKNOWN, BYTE = 3, 4, 2, 6


def _key(vocab: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """``tokenizer.ggml.<name>`` (or the bare name) from GGUF tokenizer metadata."""
    return vocab.get(f"tokenizer.ggml.{name}", vocab.get(name, default))


def _byte_level_pre_tokenizer(pre: str) -> pre_tokenizers.PreTokenizer:
    if pre in _DIGITS_THEN_GPT2:
        return pre_tokenizers.Sequence(
            [
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
            ]
        )
    if pre in _LLAMA3 or pre in _QWEN2:
        pattern = LLAMA3_PATTERN if pre in _LLAMA3 else QWEN2_PATTERN
        return pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    if pre not in _GPT2:
        log.warning("tokenizer.ggml.pre %r is not one we rebuild; using GPT-2's regex", pre)
    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)


def _add_special(tok: HFTokenizer, tokens: Sequence[str], types: Sequence[int] | None) -> None:
    if types is None:
        return
    added = [
        AddedToken(tokens[i], special=t == CONTROL, normalized=False)
        for i, t in enumerate(types)
        if t in (CONTROL, USER_DEFINED) and tokens[i]
    ]
    tok.add_tokens(added)


def _gpt2_from_gguf(v: Mapping[str, Any]) -> HFTokenizer:
    tokens = list(_key(v, "tokens"))
    merges = [tuple(m.split(" ", 1)) for m in _key(v, "merges", [])]
    pre = str(_key(v, "pre", "default"))
    bpe = models.BPE(
        vocab={t: i for i, t in enumerate(tokens)},
        merges=merges,
        ignore_merges=pre in _LLAMA3,  # llama.cpp: tokenizer_ignore_merges for llama-bpe
    )
    tok = HFTokenizer(bpe)
    tok.pre_tokenizer = _byte_level_pre_tokenizer(pre)
    tok.decoder = decoders.ByteLevel()
    _add_special(tok, tokens, _key(v, "token_type"))
    return tok


def _spm_from_gguf(v: Mapping[str, Any]) -> HFTokenizer:
    tokens = list(_key(v, "tokens"))
    scores = list(_key(v, "scores", [0.0] * len(tokens)))
    types = list(_key(v, "token_type", [1] * len(tokens)))
    vocab = {t: i for i, t in enumerate(tokens)}
    # Merges from scores: (left, right) -> the joined piece's score; best score merges first.
    ranked: list[tuple[float, int, str, str]] = []
    for i, piece in enumerate(tokens):
        if types[i] != 1:
            continue
        for k in range(1, len(piece)):
            left, right = piece[:k], piece[k:]
            if left in vocab and right in vocab:
                ranked.append((-float(scores[i]), i, left, right))
    ranked.sort()
    unk = next((tokens[i] for i, t in enumerate(types) if t == UNKNOWN), None)
    bpe = models.BPE(
        vocab=vocab,
        merges=[(a, b) for _, _, a, b in ranked],
        unk_token=unk,
        byte_fallback=True,
        fuse_unk=True,
    )
    tok = HFTokenizer(bpe)
    prefix = bool(_key(v, "add_space_prefix", True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    if prefix:
        # llama.cpp prefixes a space to every text fragment that follows a special token
        # (and to the first one); "always" applies per fragment between added tokens.
        tok.pre_tokenizer = pre_tokenizers.Metaspace(
            replacement="▁", prepend_scheme="always", split=False
        )
    steps = [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    if prefix:
        steps.append(decoders.Strip(" ", 1, 0))
    tok.decoder = decoders.Sequence(steps)
    _add_special(tok, tokens, types)
    return tok


def spec_from_gguf_metadata(meta: Mapping[str, Any]) -> TokenizerSpec:
    """A TokenizerSpec from GGUF key/values (``tokenizer.ggml.*``, ``tokenizer.chat_template``)."""
    vocab = {k: v for k, v in meta.items() if k.startswith("tokenizer.ggml.")}
    tokens = list(vocab.get("tokenizer.ggml.tokens", []))
    model = vocab.get("tokenizer.ggml.model", "gpt2")
    bos = vocab.get("tokenizer.ggml.bos_token_id")
    eos_ids: list[int] = []
    for key in ("eos_token_id", "eot_token_id", "eom_token_id"):
        i = vocab.get(f"tokenizer.ggml.{key}")
        if i is not None and int(i) not in eos_ids:
            eos_ids.append(int(i))
    specials = {}
    for role in ("bos", "eos", "unknown", "padding"):
        i = vocab.get(f"tokenizer.ggml.{role}_token_id")
        if i is not None and 0 <= int(i) < len(tokens):
            specials[role] = tokens[int(i)]
    return TokenizerSpec(
        gguf_vocab=vocab,
        chat_template=meta.get("tokenizer.chat_template"),
        bos_token_id=None if bos is None else int(bos),
        eos_token_ids=eos_ids,
        add_bos=bool(vocab.get("tokenizer.ggml.add_bos_token", model == "llama")),
        special_tokens=specials,
    )


class Tokenizer:
    """Encode, decode and stream-decode; knows its BOS/EOS ids and chat template."""

    def __init__(self, tok: HFTokenizer, spec: TokenizerSpec) -> None:
        self.hf = tok
        self.spec = spec
        self.bos_id = spec.bos_token_id
        # The model's EOS/EOT ids, plus well-known end-of-turn control tokens of its vocab
        # (llama.cpp does the same: SmolLM2 names <|im_end|> but also ends at <|endoftext|>).
        self.eos_ids = list(dict.fromkeys(spec.eos_token_ids))
        specials = {i for i, t in tok.get_added_tokens_decoder().items() if t.special}
        for text in END_OF_GENERATION_TEXTS:
            i = tok.token_to_id(text)
            if i is not None and i in specials and i not in self.eos_ids:
                self.eos_ids.append(i)
        self.add_bos = spec.add_bos
        self.chat_template = spec.chat_template

    @classmethod
    def from_spec(cls, spec: TokenizerSpec) -> Tokenizer:
        if spec.tokenizer_json:
            return cls(HFTokenizer.from_str(spec.tokenizer_json), spec)
        if spec.gguf_vocab:
            model = _key(spec.gguf_vocab, "model", "gpt2")
            if model == "gpt2":
                return cls(_gpt2_from_gguf(spec.gguf_vocab), spec)
            if model == "llama":
                return cls(_spm_from_gguf(spec.gguf_vocab), spec)
            raise ValueError(f"GGUF tokenizer model {model!r} is not supported (gpt2, llama)")
        raise ValueError("the model carries no tokenizer")

    @classmethod
    def for_model(cls, model: ModelWeights) -> Tokenizer:
        """The model's tokenizer; a missing or corrupt one is a StudioError naming the file.

        Corrupt metadata (merges naming tokens the vocabulary lacks, arrays of the wrong
        length or type) makes the ``tokenizers`` library raise its own exceptions ("Error
        while initializing BPE", "failed to extract field PyMerges"); we turn every one into
        a sentence about the file, with a short encode check so a tokenizer that builds but
        cannot run is refused here rather than mid-generation.
        """
        spec = model.tokenizer
        source = model.source
        if not spec.tokenizer_json and not spec.gguf_vocab:
            raise StudioError(source, _missing_tokenizer(model))
        try:
            tok = cls.from_spec(spec)
            tok.encode("Hello, world!")
            tok.decode(tok.encode("a b"))
        except StudioError:
            raise
        except Exception as e:  # the tokenizers library raises bare Exceptions
            what = "tokenizer.json" if spec.tokenizer_json else "tokenizer metadata"
            raise StudioError(source, f"corrupt {what}: {_first_line(e)}") from e
        return tok

    @property
    def vocab_size(self) -> int:
        return int(self.hf.get_vocab_size(with_added_tokens=True))

    def token_text(self, token_id: int) -> str:
        """The raw vocabulary entry (byte-level form for GPT-2 style vocabularies)."""
        return self.hf.id_to_token(int(token_id)) or ""

    def token_id(self, text: str) -> int | None:
        return self.hf.token_to_id(text)

    def special_text(self, role: str) -> str:
        """Text of a special token by role (``bos``, ``eos``), or "" when there is none."""
        text = self.spec.special_tokens.get(role)
        if text is not None:
            return text
        i = self.bos_id if role == "bos" else self.eos_ids[0] if self.eos_ids else None
        return self.token_text(i) if i is not None else ""

    def encode(self, text: str, add_bos: bool | None = None, special: bool = True) -> list[int]:
        """Token ids of ``text``. ``special``: parse special-token text (e.g. ``<|im_end|>``)
        as those tokens, as a rendered chat template needs; False treats it as plain text.
        ``add_bos`` (default: the model's own choice) never doubles a BOS already there."""
        self.hf.encode_special_tokens = not special
        try:
            ids = list(self.hf.encode(text, add_special_tokens=False).ids)
        finally:
            self.hf.encode_special_tokens = False
        want_bos = self.add_bos if add_bos is None else add_bos
        if want_bos and self.bos_id is not None and (not ids or ids[0] != self.bos_id):
            ids.insert(0, self.bos_id)
        return ids

    def decode(self, ids: Iterable[int], skip_special: bool = False) -> str:
        return str(self.hf.decode([int(i) for i in ids], skip_special_tokens=skip_special))

    def stream(self, skip_special: bool = False) -> StreamDecoder:
        return StreamDecoder(self, skip_special)


class StreamDecoder:
    """Incremental detokenisation that never emits part of a UTF-8 character.

    Byte-level tokens can end inside a multi-byte character; decoding then yields U+FFFD.
    We decode a short window of recent ids, and emit only the text past what the window's
    already-shown prefix decodes to, once it no longer ends in an incomplete character.
    Decoding the window (not one token) also keeps SentencePiece's word-initial spaces right.
    """

    def __init__(self, tokenizer: Tokenizer, skip_special: bool = False) -> None:
        self.tok = tokenizer
        self.skip_special = skip_special
        self.ids: list[int] = []
        self.prefix = 0  # window start
        self.read = 0  # ids already turned into emitted text

    def _decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special=self.skip_special)

    def push(self, token_id: int) -> str:
        """Adds one token; returns the newly complete text (possibly "")."""
        self.ids.append(int(token_id))
        shown = self._decode(self.ids[self.prefix : self.read])
        full = self._decode(self.ids[self.prefix :])
        if len(full) > len(shown) and not full.endswith("\ufffd"):
            self.prefix, self.read = self.read, len(self.ids)
            return full[len(shown) :]
        return ""

    def flush(self) -> str:
        """Whatever is still held back (an incomplete character decodes as U+FFFD)."""
        shown = self._decode(self.ids[self.prefix : self.read])
        full = self._decode(self.ids[self.prefix :])
        self.prefix = self.read = len(self.ids)
        return full[len(shown) :]


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:200]


def _missing_tokenizer(model: ModelWeights) -> str:
    if model.format == "gguf":
        return "no tokenizer (no tokenizer.ggml.* metadata in the file)"
    folder = model.source
    if folder is not None and (folder / "tokenizer.model").is_file():
        return (
            "no tokenizer.json (a SentencePiece tokenizer.model alone is not read: "
            "save the tokenizer with transformers to get tokenizer.json)"
        )
    return "no tokenizer (tokenizer.json / tokenizer.model not found)"
