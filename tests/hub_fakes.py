"""A local stand-in for the Hugging Face hub: ``install(monkeypatch, files)`` replaces the
huggingface_hub calls ``bitnet_studio.hub`` makes with fakes serving files from a dict.

The fake ``hf_hub_download`` writes the real cache layout (``refs/main`` and
``snapshots/<sha>/<file>``, so the real ``try_to_load_from_cache`` finds it), copies in chunks
through the ``tqdm_class`` the caller passes, and, like huggingface_hub 2.4, writes to a
temporary ``.incomplete`` file that it deletes when the transfer fails."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx2
import huggingface_hub
import pytest
from huggingface_hub.errors import LocalEntryNotFoundError

SHA = "0123456789abcdef0123456789abcdef01234567"
CHUNK = 4096


@dataclass
class FakeHub:
    files: dict[str, dict[str, bytes]]  # repo id -> file name -> content
    offline: bool = False
    delay_s: float = 0.0  # per chunk, so a UI test can watch the bar move
    fetched: list[tuple[str, str, int]] = field(default_factory=list)  # (repo, file, bytes)

    def model_info(self, repo_id: str, files_metadata: bool = False, **_: Any) -> Any:
        if self.offline:
            raise httpx2.ConnectError("[Errno -3] Temporary failure in name resolution")
        siblings = [
            SimpleNamespace(rfilename=name, size=len(data))
            for name, data in self.files[repo_id].items()
        ]
        return SimpleNamespace(sha=SHA, siblings=siblings)

    def hf_hub_download(
        self,
        repo_id: str,
        filename: str,
        *,
        cache_dir: str | None = None,
        tqdm_class: Any = None,
        **_: Any,
    ) -> str:
        assert cache_dir is not None, "tests must never write to the user's cache"
        root = Path(cache_dir) / f"models--{repo_id.replace('/', '--')}"
        target = root / "snapshots" / SHA / filename
        if target.exists():
            return str(target)
        if self.offline:
            raise LocalEntryNotFoundError("cannot reach the hub")
        data = self.files[repo_id][filename]
        (root / "refs").mkdir(parents=True, exist_ok=True)
        (root / "refs" / "main").write_text(SHA)
        tmp = root / "blobs" / f"{filename}.{time.monotonic_ns()}.incomplete"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        bar = tqdm_class(total=len(data), initial=0, desc=filename)
        sent = 0
        try:
            with tmp.open("wb") as f:
                for start in range(0, len(data), CHUNK):
                    chunk = data[start : start + CHUNK]
                    f.write(chunk)
                    sent += len(chunk)
                    bar.update(len(chunk))
                    if self.delay_s:
                        time.sleep(self.delay_s)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.replace(target)
        finally:
            self.fetched.append((repo_id, filename, sent))
            tmp.unlink(missing_ok=True)
            bar.close()
        return str(target)


def install(monkeypatch: pytest.MonkeyPatch, files: dict[str, dict[str, bytes]]) -> FakeHub:
    """Replaces the hub calls with a ``FakeHub`` and makes any real request fail (offline)."""
    fake = FakeHub(files)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr(
        huggingface_hub.HfApi, "model_info", lambda _self, *a, **k: fake.model_info(*a, **k)
    )
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake.hf_hub_download)
    return fake
