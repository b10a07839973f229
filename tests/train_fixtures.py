"""Small, fast stand-ins for the training tests: a BPE trained on a slice of the corpus and
token streams cut from it, so no test tokenizes the whole corpus."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import numpy as np
from tokenizers import Tokenizer

from bitnet_studio.train.corpus import split_works
from bitnet_studio.train.data import TokenData
from bitnet_studio.train.model import Shape
from bitnet_studio.train.recipe import LAB, Recipe
from bitnet_studio.train.tokenizer import EOS, encode_works, train_tokenizer

VOCAB = 512
TRAIN_CHARS = 200_000
HELDOUT_CHARS = 8_000


@cache
def tokenizer() -> Tokenizer:
    return train_tokenizer(VOCAB, [w.text[:TRAIN_CHARS] for w in split_works("train")[:4]])


@cache
def token_data() -> TokenData:
    tok = tokenizer()
    train = [w.text[:TRAIN_CHARS] for w in split_works("train")[:4]]
    held = [w.text[:HELDOUT_CHARS] for w in split_works("heldout")]
    return TokenData(
        train=np.asarray(encode_works(tok, train), np.uint16),
        heldout=np.asarray([tok.token_to_id(EOS), *encode_works(tok, held)], np.uint16),
        heldout_bytes=sum(len(t.encode()) for t in held),
    )


def tiny_recipe(**changes) -> Recipe:
    shape = Shape(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, n_layers=2, n_heads=2, context=32
    )
    base = replace(
        LAB,
        shape=shape,
        steps=40,
        batch_size=8,
        lr=3e-3,
        warmup_steps=5,
        eval_every=0,
        checkpoint_every=0,
        eval_tokens=1024,
    )
    return replace(base, **changes)
