"""Models a user can fetch from the Hugging Face hub, and the download itself (no Qt).

``download`` fetches an entry's files one by one with ``huggingface_hub.hf_hub_download`` into
the user's HF cache (or ``dest_root``), reporting ``progress(done_bytes, total_bytes, message)``
and checking ``cancel()`` between files and on every chunk (a cancelled download raises
``DownloadCancelled``; huggingface_hub deletes the partial file, never leaving half a blob).

Resume: huggingface_hub 2.4 keeps every finished file in the cache and skips it on the next
call; within a file it retries and resumes (HTTP Range) after transient network errors, but a
file interrupted by a cancel starts again from its first byte (its temporary file is unique
per download and removed on failure).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import huggingface_hub
from huggingface_hub.errors import (
    GatedRepoError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
)

from bitnet_studio.errors import StudioError

ProgressFn = Callable[[int, int, str], None]
CancelFn = Callable[[], bool]

OFFLINE_MESSAGE = (
    "the Hugging Face hub cannot be reached (offline?); check the network connection and try "
    "again (models already downloaded still open)"
)
HF_FOLDER = ("config.json", "generation_config.json", "tokenizer*.json", "special_tokens_map.json")
HF_FOLDER += ("vocab.json", "merges.txt", "tokenizer.model", "*.safetensors")


class DownloadCancelled(Exception):
    """The user cancelled the download; finished files stay in the cache."""


@dataclass(frozen=True)
class HubModel:
    """One downloadable model."""

    name: str
    repo_id: str
    allow_patterns: tuple[str, ...]  # top-level file names (fnmatch) to fetch
    required: tuple[str, ...]  # files that must be in the cache for it to count as downloaded
    approx_bytes: int
    kind: str  # "ternary" | "vanilla"
    license: str
    gguf: str | None = None  # the file to open, for a GGUF repo (else its folder opens)

    @property
    def size_text(self) -> str:
        gb = self.approx_bytes / 1e9
        return f"{gb:.1f} GB" if gb >= 1 else f"{self.approx_bytes / 1e6:.0f} MB"


def _hf(name: str, repo: str, size: int, kind: str, license: str) -> HubModel:
    required = ("config.json", "tokenizer.json", "model.safetensors")
    return HubModel(name, repo, HF_FOLDER, required, size, kind, license)


CATALOG: tuple[HubModel, ...] = (
    HubModel(
        "BitNet b1.58 2B4T (GGUF, I2_S)",
        "microsoft/bitnet-b1.58-2B-4T-gguf",
        ("ggml-model-i2_s.gguf",),
        ("ggml-model-i2_s.gguf",),
        1_190_000_000,
        "ternary",
        "MIT",
        gguf="ggml-model-i2_s.gguf",
    ),
    _hf(
        "BitNet b1.58 2B4T (packed)",
        "microsoft/bitnet-b1.58-2B-4T",
        1_180_000_000,
        "ternary",
        "MIT",
    ),
    _hf(
        "Qwen2.5 1.5B Instruct",
        "Qwen/Qwen2.5-1.5B-Instruct",
        3_090_000_000,
        "vanilla",
        "Apache-2.0",
    ),
    _hf(
        "SmolLM2 135M Instruct",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        270_000_000,
        "vanilla",
        "Apache-2.0",
    ),
    _hf(
        "SmolLM2 360M Instruct",
        "HuggingFaceTB/SmolLM2-360M-Instruct",
        725_000_000,
        "vanilla",
        "Apache-2.0",
    ),
    _hf(
        "SmolLM2 1.7B Instruct",
        "HuggingFaceTB/SmolLM2-1.7B-Instruct",
        3_420_000_000,
        "vanilla",
        "Apache-2.0",
    ),
)


def find(repo_id: str) -> HubModel:
    for entry in CATALOG:
        if entry.repo_id == repo_id:
            return entry
    raise StudioError(repo_id, "not in the catalog of downloadable models")


def _cache_dir(dest_root: str | Path | None) -> str | None:
    return str(dest_root) if dest_root is not None else None


def _wanted(filename: str, patterns: tuple[str, ...]) -> bool:
    return "/" not in filename and any(fnmatch.fnmatch(filename, p) for p in patterns)


def _unreachable(exc: BaseException) -> bool:
    return isinstance(
        exc,
        OfflineModeIsEnabled | LocalEntryNotFoundError | httpx2.TransportError | ConnectionError,
    )


def is_downloaded(entry: HubModel, dest_root: str | Path | None = None) -> Path | None:
    """The path to open (the GGUF file or the snapshot folder) if every required file of
    ``entry`` is in the cache, else None. Never touches the network."""
    found: list[Path] = []
    for filename in entry.required:
        hit = huggingface_hub.try_to_load_from_cache(
            entry.repo_id, filename, cache_dir=_cache_dir(dest_root)
        )
        if not isinstance(hit, str):
            return None
        found.append(Path(hit))
    if entry.gguf is not None:
        return found[entry.required.index(entry.gguf)]
    return found[0].parent


def _files(entry: HubModel) -> list[tuple[str, int]]:
    """(file name, size in bytes) of the files to fetch, from the hub."""
    info = huggingface_hub.HfApi().model_info(entry.repo_id, files_metadata=True)
    files = [
        (s.rfilename, int(s.size or 0))
        for s in (info.siblings or [])
        if _wanted(s.rfilename, entry.allow_patterns)
    ]
    missing = [r for r in entry.required if r not in {f for f, _ in files}]
    if missing:
        raise StudioError(entry.repo_id, f"the hub repository has no {', '.join(missing)}")
    return sorted(files, key=lambda f: f[1])  # small files first, the weights last


def _progress_hook(on_bytes: Callable[[int], None]) -> type:
    """A tqdm stand-in for huggingface_hub's ``tqdm_class``: counts bytes, draws nothing.

    ``on_bytes`` may raise (``DownloadCancelled``) to stop the transfer mid-file."""

    class Hook:
        def __init__(self, *_args: Any, **kwargs: Any) -> None:
            self.n = int(kwargs.get("initial") or 0)
            self.total = kwargs.get("total")

        def update(self, n: int | float | None = 1) -> None:
            step = int(n or 0)
            self.n += step
            on_bytes(step)

        def update_transfer(self, _n: int) -> None:  # network bytes: counted by ``update``
            return None

        def set_postfix_str(self, *_a: Any, **_k: Any) -> None:
            return None

        set_transfer_postfix_str = set_postfix_str
        refresh = set_postfix_str
        close = set_postfix_str

        def __enter__(self) -> Hook:
            return self

        def __exit__(self, *_exc: Any) -> None:
            return None

    return Hook


def download(
    entry: HubModel,
    dest_root: str | Path | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> Path:
    """Fetches ``entry`` into the HF cache; returns the path to open (see ``is_downloaded``).

    Raises ``DownloadCancelled`` when ``cancel()`` turns true, ``StudioError`` when the hub
    cannot be reached (and the model is not already in the cache) or refuses the repository.
    """
    report = progress or (lambda _d, _t, _m: None)
    stop = cancel or (lambda: False)
    cache_dir = _cache_dir(dest_root)
    try:
        files = _files(entry)
    except (GatedRepoError, RepositoryNotFoundError) as exc:
        raise StudioError(
            entry.repo_id,
            "the hub refuses this repository (gated or missing): accept its license on "
            "huggingface.co and log in with `hf auth login`",
        ) from exc
    except Exception as exc:
        if not _unreachable(exc):
            raise
        cached = is_downloaded(entry, dest_root)
        if cached is not None:
            report(1, 1, "already downloaded (the hub cannot be reached)")
            return cached
        raise StudioError(entry.repo_id, OFFLINE_MESSAGE) from exc

    total = sum(size for _, size in files) or 1
    done = 0
    state: dict[str, Any] = {"file": 0, "message": ""}

    def on_bytes(step: int) -> None:
        state["file"] += step
        if stop():
            raise DownloadCancelled(entry.repo_id)
        report(done + state["file"], total, state["message"])

    hook = _progress_hook(on_bytes)
    for index, (filename, size) in enumerate(files, 1):
        if stop():
            raise DownloadCancelled(entry.repo_id)
        message = f"{filename} ({index}/{len(files)})"
        report(done, total, message)
        state["file"], state["message"] = 0, message
        try:
            huggingface_hub.hf_hub_download(
                entry.repo_id, filename, cache_dir=cache_dir, tqdm_class=hook
            )
        except DownloadCancelled:
            raise
        except Exception as exc:
            if _unreachable(exc):
                raise StudioError(entry.repo_id, OFFLINE_MESSAGE) from exc
            raise
        done += size
        report(done, total, message)
    path = is_downloaded(entry, dest_root)
    if path is None:
        raise StudioError(entry.repo_id, "the download finished but its files are not in the cache")
    report(total, total, "done")
    return path
