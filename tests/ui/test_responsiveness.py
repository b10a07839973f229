"""``bitnet-studio bench ui`` on the two tiny models: the JSON has every field and the probe
sampled the event loop. No timing is asserted (machines differ)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bitnet_studio.bench import ui_responsiveness


@pytest.mark.timeout(180)
def test_bench_ui_writes_its_json(
    qapp, tiny_models: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    p = argparse.ArgumentParser()
    ui_responsiveness.add_arguments(p)
    out = tmp_path / "ui.json"
    args = p.parse_args(["--models", *tiny_models, "--max-tokens", "8", "--json", str(out)])
    assert ui_responsiveness.run(args) == 0
    data = json.loads(out.read_text())
    for key in ("window_up_ms", "stall_p50_ms", "stall_p99_ms", "stall_max_ms", "samples"):
        assert isinstance(data[key], int | float), key
    assert data["samples"] > 0
    assert len(data["tokens"]) == 2
    assert all(isinstance(n, int) and n > 0 for n in data["tokens"].values())
    assert data["stall_p50_ms"] <= data["stall_p99_ms"] <= data["stall_max_ms"]
    printed = capsys.readouterr().out
    assert "GUI stall p99" in printed and "target" in printed
