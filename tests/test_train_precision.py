"""The training dtype follows the CPU: bf16 only where it runs natively (issue 12 item 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bitnet_studio.train.precision import auto_precision, choose, cpu_flags

ZEN3 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma bmi2\n"
SPR = "processor\t: 0\nflags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
AMX_ONLY = "processor\t: 0\nflags\t\t: avx2 avx512f amx_bf16\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd bf16\n"


def _info(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cpuinfo"
    p.write_text(text)
    return p


def test_avx2_cpu_trains_in_fp32(tmp_path: Path) -> None:
    p = auto_precision(_info(tmp_path, ZEN3))
    assert not p.bf16 and p.name == "fp32" and "avx512_bf16" in p.reason


@pytest.mark.parametrize("text,flag", [(SPR, "avx512_bf16, amx_bf16"), (AMX_ONLY, "amx_bf16")])
def test_bf16_cpus_train_in_bf16(tmp_path: Path, text: str, flag: str) -> None:
    p = auto_precision(_info(tmp_path, text))
    assert p.bf16 and p.describe() == f"bf16 (the CPU runs bf16 natively: {flag})"


def test_unknown_cpu_is_fp32(tmp_path: Path) -> None:
    assert cpu_flags(tmp_path / "missing") is None
    assert not auto_precision(tmp_path / "missing").bf16
    assert not auto_precision(_info(tmp_path, ARM)).bf16  # aarch64 bf16 is not x86's
    assert cpu_flags(_info(tmp_path, ARM)) == {"fp", "asimd", "bf16"}


def test_explicit_choice_wins(tmp_path: Path) -> None:
    assert choose("bf16", _info(tmp_path, ZEN3)).bf16
    assert not choose("fp32", _info(tmp_path, SPR)).bf16
    assert choose("auto", _info(tmp_path, SPR)).bf16
    with pytest.raises(ValueError, match="unknown precision"):
        choose("fp8")


def test_recipe_default_follows_this_cpu() -> None:
    from bitnet_studio.train.recipe import LAB, SHIPPED, Recipe

    assert Recipe().bf16 == SHIPPED.bf16 == LAB.bf16 == auto_precision().bf16
