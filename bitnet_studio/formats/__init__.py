"""Model file readers (GGUF, Hugging Face safetensors folders) and the GGUF writer.

Everything is memory-mapped and nothing is ever unpickled. Every problem with a file raises
``StudioError(path, message)``.
"""

from __future__ import annotations

from pathlib import Path

from bitnet_studio.errors import StudioError
from bitnet_studio.formats.common import PICKLE_MESSAGE, PICKLE_SUFFIXES
from bitnet_studio.formats.gguf_reader import read_gguf
from bitnet_studio.formats.gguf_writer import WriteReport, write_gguf
from bitnet_studio.formats.hf_reader import read_hf
from bitnet_studio.models.weights import ModelWeights

__all__ = ["WriteReport", "load_model", "read_gguf", "read_hf", "write_gguf"]


# What a reader may still raise on a file whose bytes it did not foresee: the readers check
# what they know to check; this net turns the rest into a sentence about the file too.
_CORRUPT = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError)
_CORRUPT += (ZeroDivisionError, UnicodeError)


def load_model(path: str | Path) -> ModelWeights:
    """A ``.gguf`` file, a Hugging Face folder (with config.json), or a safetensors file
    whose folder holds config.json. Every problem is a StudioError naming the file."""
    p = Path(path)
    try:
        return _load(p)
    except StudioError:
        raise
    except MemoryError as e:
        raise StudioError(p, "ran out of memory while reading (are its sizes corrupt?)") from e
    except _CORRUPT as e:
        raise StudioError(p, f"cannot be read, it looks corrupt ({type(e).__name__}: {e})") from e


def _load(p: Path) -> ModelWeights:
    if not p.exists():
        raise StudioError(p, "file not found")
    if p.is_dir():
        if (p / "config.json").is_file():
            return read_hf(p)
        ggufs = sorted(p.glob("*.gguf"))
        if len(ggufs) == 1:
            return read_gguf(ggufs[0])
        raise StudioError(p, "not a model folder (no config.json and not exactly one .gguf)")
    if p.suffix.lower() in PICKLE_SUFFIXES:
        raise StudioError(p, PICKLE_MESSAGE)
    if p.suffix.lower() == ".safetensors" or p.name == "config.json":
        if (p.parent / "config.json").is_file():
            return read_hf(p.parent)
        raise StudioError(p, "a safetensors file needs config.json beside it")
    with p.open("rb") as fh:
        magic = fh.read(4)
    if magic == b"GGUF" or p.suffix.lower() == ".gguf":
        return read_gguf(p)
    raise StudioError(p, "unknown model file type (expected .gguf or a Hugging Face folder)")
