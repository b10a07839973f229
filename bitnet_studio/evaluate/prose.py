"""The bundled English prose: the opening chapters of Jane Austen's *Pride and Prejudice*.

The novel (1813) is in the public domain; the text comes from the Debian package
``r-cran-janeaustenr`` 1.0.0-1 (the CRAN package janeaustenr by Julia Silge, MIT licensed,
which carries Project Gutenberg's text as R data, one line per element). ``python -m
bitnet_studio.evaluate.prose --fetch`` downloads that package with ``apt-get download``,
checks its sha256, reads the R lazy-load database (zlib-compressed R serialization of
character vectors), keeps whole chapters up to ``MAX_BYTES``, joins each paragraph's lines
and writes ``resources/texts/pride-and-prejudice.txt``, whose digest ``texts.py`` checks.
"""

from __future__ import annotations

import argparse
import hashlib
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

from bitnet_studio.errors import StudioError
from bitnet_studio.resources import resource_path

DEB_PACKAGE = "r-cran-janeaustenr=1.0.0-1"
DEB_SHA256 = "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95"
RDB_PATH = "usr/lib/R/site-library/janeaustenr/data/Rdata.rdb"
TITLE = "PRIDE AND PREJUDICE"
MAX_BYTES = 150_000
PROSE_FILE = ("texts", "pride-and-prejudice.txt")

_STRSXP, _CHARSXP, _UTF8 = 16, 9, 1 << 15


def read_string_vectors(rdb: bytes) -> list[list[str]]:
    """Every object of an R lazy-load database that is a character vector (R's XDR
    serialization, version 3): each record is a 4-byte length and a zlib stream."""
    out, off = [], 0
    while off + 4 <= len(rdb):
        z = zlib.decompressobj()
        raw = z.decompress(rdb[off + 4 :])
        off = len(rdb) - len(z.unused_data)
        if raw[:2] != b"X\n":
            raise ValueError("not an XDR-serialized R object")
        p = 2 + 12  # format version, R version, minimal R version
        (enc_len,) = struct.unpack_from(">i", raw, p)
        p += 4 + enc_len  # native encoding name
        flags, n = struct.unpack_from(">ii", raw, p)
        p += 8
        if flags & 0xFF != _STRSXP:
            continue
        items = []
        for _ in range(n):
            flags, size = struct.unpack_from(">ii", raw, p)
            p += 8
            if flags & 0xFF != _CHARSXP:
                raise ValueError("a character vector holds a non-string")
            if size < 0:  # NA
                items.append("")
                continue
            items.append(raw[p : p + size].decode("utf-8" if flags & _UTF8 else "latin-1"))
            p += size
        out.append(items)
    return out


def excerpt(lines: list[str], max_bytes: int = MAX_BYTES) -> str:
    """Whole chapters from the start while they fit in ``max_bytes``; paragraphs' lines
    joined with spaces, paragraphs separated by a blank line."""
    paragraphs, cur = [], []
    for line in lines:
        if line.strip():
            cur.append(line.strip())
        elif cur:
            paragraphs.append(" ".join(cur))
            cur = []
    if cur:
        paragraphs.append(" ".join(cur))
    chapters: list[list[str]] = [[]]
    for para in paragraphs:
        if para.startswith("Chapter ") and chapters[-1]:
            chapters.append([])
        chapters[-1].append(para)
    text = ""
    for ch in chapters:
        more = "\n\n".join(ch) + "\n\n"
        if text and len((text + more).encode("utf-8")) > max_bytes:
            break
        text += more
    return text.rstrip() + "\n"


def build_from_deb(deb: Path, out: Path) -> str:
    """Writes the excerpt from the downloaded .deb; returns its sha256."""
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    if digest != DEB_SHA256:
        raise StudioError(deb, f"sha256 {digest} is not the expected {DEB_SHA256}")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
        vectors = read_string_vectors((Path(tmp) / RDB_PATH).read_bytes())
    novel = next((v for v in vectors if v and v[0].strip() == TITLE), None)
    if novel is None:
        raise StudioError(deb, f"no character vector starts with {TITLE!r}")
    data = excerpt(novel).encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def fetch(out: Path) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", DEB_PACKAGE], cwd=tmp, check=True)
        (deb,) = Path(tmp).glob("r-cran-janeaustenr_*.deb")
        return build_from_deb(deb, out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="rebuild the bundled English prose from Debian")
    p.add_argument("--fetch", action="store_true", help="download the .deb with apt-get")
    p.add_argument("--deb", type=Path, help="or use this already downloaded .deb")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    out = args.out or resource_path(*PROSE_FILE)
    if args.deb:
        digest = build_from_deb(args.deb, out)
    elif args.fetch:
        digest = fetch(out)
    else:
        p.error("give --fetch or --deb FILE")
    print(f"{out}: {out.stat().st_size} bytes, sha256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
