"""A byte-level BPE (GPT-2 style pre-tokenizer) trained on the corpus's training split.

Byte-level with GPT-2's regex so that our GGUF writer stores it as ``gpt2`` / ``gpt-2`` and
both our reader and llama.cpp split text the same way. ``<|endoftext|>`` (id 0) separates
documents and ends generation.
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from bitnet_studio.train.corpus import split_works

EOS = "<|endoftext|>"


def train_tokenizer(vocab_size: int, texts: list[str] | None = None) -> Tokenizer:
    """Trains the BPE on ``texts`` (default: the training works); deterministic."""
    if texts is None:
        texts = [w.text for w in split_works("train")]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def encode_works(tok: Tokenizer, texts: list[str]) -> list[int]:
    """Token ids of several documents, each followed by EOS."""
    eos = tok.token_to_id(EOS)
    ids: list[int] = []
    for enc in tok.encode_batch(texts):
        ids += [*enc.ids, eos]
    return ids
