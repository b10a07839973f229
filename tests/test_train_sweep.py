"""The LR sweep: one short run per peak LR, ranked by held-out loss, resumable."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from bitnet_studio.train.sweep import RESULTS, SweepRow, best, load_rows, sweep, table
from bitnet_studio.train.trainer import Control
from tests.train_fixtures import tiny_recipe, token_data, tokenizer


def test_sweep_ranks_lrs_and_keeps_rows(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    recipe = tiny_recipe(steps=100)  # the sweep's own step count wins
    rows = sweep("bitnet", recipe, [1e-4, 3e-3], 12, tokenizer(), tmp_path, token_data())
    assert rows is not None and [r.lr for r in rows] == [1e-4, 3e-3]
    assert all(r.steps == 12 and r.variant == "bitnet" for r in rows)
    assert best(rows).lr == 3e-3  # 12 steps at 1e-4 barely move the model
    assert rows[1].heldout_loss < rows[0].heldout_loss
    assert math.isclose(rows[1].perplexity, math.exp(rows[1].heldout_loss), rel_tol=1e-6)
    assert load_rows(tmp_path) == rows
    # a second call reads the finished rows back instead of training again
    calls = []
    again = sweep(
        "bitnet", recipe, [1e-4, 3e-3], 12, tokenizer(), tmp_path, token_data(), calls.append
    )
    assert again == rows and calls == []
    text = table(rows)
    assert "| bitnet | 0.003 **best** | 12 |" in text and "| bitnet | 0.0001 | 12 |" in text


def test_a_stopped_sweep_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    control = Control()
    seen: list[int] = []

    def stop_at_3(ev) -> None:
        seen.append(ev.step)
        if ev.step == 3:
            control.request_stop()

    recipe = tiny_recipe()
    args = ("vanilla", recipe, [2e-3], 6, tokenizer(), tmp_path, token_data())
    assert sweep(*args, on_event=stop_at_3, control=control) is None
    assert not (tmp_path / RESULTS).exists()
    rest: list[int] = []
    rows = sweep(*args, on_event=lambda ev: rest.append(ev.step))
    assert seen == [1, 2, 3] and rest == [4, 5, 6]
    assert rows is not None and len(load_rows(tmp_path)) == 1


def test_best_skips_diverged_rows() -> None:
    ok = SweepRow("b158", 2e-3, 10, 3.0, 3.1, 22.2, 2.0, 0.1)
    bad = SweepRow("b158", 8e-2, 10, math.nan, math.nan, math.nan, math.nan, 0.1)
    assert bad.diverged and best([bad, ok]) is ok
    with pytest.raises(ValueError, match="diverged"):
        best([bad])


def test_variants_share_a_sweep_folder(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    recipe = tiny_recipe()
    for variant in ("vanilla", "b158"):
        rows = sweep(variant, recipe, [2e-3], 4, tokenizer(), tmp_path, token_data())  # type: ignore[arg-type]
        assert rows is not None and rows[0].variant == variant
    assert [r.variant for r in load_rows(tmp_path)] == ["vanilla", "b158"]
    assert {p.name for p in tmp_path.iterdir() if p.is_dir()} == {
        "vanilla-lr-0.002",
        "b158-lr-0.002",
    }
