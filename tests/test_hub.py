"""bitnet_studio.hub against a local stand-in for the hub (the real one is never reached)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hub_fakes import FakeHub, install

from bitnet_studio import hub
from bitnet_studio.errors import StudioError

pytestmark = pytest.mark.timeout(120)

ENTRY = hub.find("HuggingFaceTB/SmolLM2-135M-Instruct")
GGUF = hub.find("microsoft/bitnet-b1.58-2B-4T-gguf")
FILES = {
    "config.json": b'{"model_type": "llama"}',
    "model.safetensors": bytes(range(256)) * 200,  # 51200 bytes: 13 chunks
    "tokenizer.json": b"{}" * 3000,
    "onnx/model.onnx": b"not wanted",
    "README.md": b"not wanted",
}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    return install(
        monkeypatch,
        {ENTRY.repo_id: dict(FILES), GGUF.repo_id: {"ggml-model-i2_s.gguf": b"GGUF" * 5000}},
    )


def test_catalog_has_the_curated_models() -> None:
    repos = {e.repo_id for e in hub.CATALOG}
    assert {"microsoft/bitnet-b1.58-2B-4T-gguf", "microsoft/bitnet-b1.58-2B-4T"} <= repos
    assert {f"HuggingFaceTB/SmolLM2-{s}-Instruct" for s in ("135M", "360M", "1.7B")} <= repos
    assert {e.kind for e in hub.CATALOG} == {"ternary", "vanilla"}
    assert all(e.license and e.approx_bytes > 0 and e.allow_patterns for e in hub.CATALOG)


def test_download_reports_progress_and_lands_in_the_cache(fake: FakeHub, tmp_path: Path) -> None:
    seen: list[tuple[int, int, str]] = []
    assert hub.is_downloaded(ENTRY, tmp_path) is None
    path = hub.download(ENTRY, tmp_path, progress=lambda d, t, m: seen.append((d, t, m)))
    total = sum(len(FILES[f]) for f in ("config.json", "model.safetensors", "tokenizer.json"))
    assert path.is_dir() and (path / "model.safetensors").read_bytes() == FILES["model.safetensors"]
    assert not (path / "README.md").exists() and not (path / "onnx").exists()
    assert all(t == total for _, t, _ in seen)
    done = [d for d, _, _ in seen]
    assert done == sorted(done) and done[-1] == total and len(set(done)) > 10
    assert hub.is_downloaded(ENTRY, tmp_path) == path


def test_gguf_entry_opens_its_file(fake: FakeHub, tmp_path: Path) -> None:
    path = hub.download(GGUF, tmp_path)
    assert path.name == "ggml-model-i2_s.gguf" and path.read_bytes().startswith(b"GGUF")
    assert hub.is_downloaded(GGUF, tmp_path) == path


def test_cancel_mid_file_then_resume(fake: FakeHub, tmp_path: Path) -> None:
    calls = {"n": 0}

    def cancel() -> bool:  # true halfway through model.safetensors
        return any(f == "model.safetensors" and b > 20_000 for _, f, b in fake.fetched) or (
            calls.__setitem__("n", calls["n"] + 1) or calls["n"] > 8
        )

    with pytest.raises(hub.DownloadCancelled):
        hub.download(ENTRY, tmp_path, cancel=cancel)
    snap = tmp_path / f"models--{ENTRY.repo_id.replace('/', '--')}"
    assert (snap / "snapshots").exists()
    assert not list(snap.rglob("model.safetensors")), "a cancelled file must not look complete"
    assert not list(snap.rglob("*.incomplete"))
    assert hub.is_downloaded(ENTRY, tmp_path) is None
    first = list(fake.fetched)
    assert first[-1][1] == "model.safetensors" and 0 < first[-1][2] < len(
        FILES["model.safetensors"]
    )

    path = hub.download(ENTRY, tmp_path)  # resume: finished files are not fetched again
    again = [f for _, f, _ in fake.fetched[len(first) :]]
    assert "config.json" not in again and "model.safetensors" in again
    assert (path / "model.safetensors").read_bytes() == FILES["model.safetensors"]


def test_cancel_before_start_fetches_nothing(fake: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(hub.DownloadCancelled):
        hub.download(ENTRY, tmp_path, cancel=lambda: True)
    assert fake.fetched == []


def test_offline_is_a_plain_studio_error(fake: FakeHub, tmp_path: Path) -> None:
    fake.offline = True
    with pytest.raises(StudioError) as err:
        hub.download(ENTRY, tmp_path)
    assert err.value.source == ENTRY.repo_id
    assert err.value.message.startswith("the Hugging Face hub cannot be reached (offline?)")


def test_offline_mid_download_is_a_plain_studio_error(
    fake: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = fake.hf_hub_download

    def flaky(repo_id: str, filename: str, **kw: object) -> str:
        fake.offline = filename == "model.safetensors"
        return real(repo_id, filename, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(hub.huggingface_hub, "hf_hub_download", flaky)
    with pytest.raises(StudioError, match="cannot be reached"):
        hub.download(ENTRY, tmp_path)


def test_offline_but_cached_still_opens(fake: FakeHub, tmp_path: Path) -> None:
    path = hub.download(ENTRY, tmp_path)
    fake.offline = True
    assert hub.download(ENTRY, tmp_path) == path


def test_the_real_hub_is_unreachable_in_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without fakes, the guard makes the real client fail fast, as offline, in our words."""
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(StudioError, match=r"cannot be reached \(offline\?\)"):
        hub.download(ENTRY, "/nonexistent-cache-dir")
