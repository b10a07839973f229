"""The AVX2 batch-1 GEMV design comparison (kernels/bench/gemv_schemes.cpp) stays exact.

It is a measuring aid behind the choice of the AVX2 GEMV (the closing notes of the speed
issue quote its tables), not product code; this builds it and runs its quick mode, in
which every design's int32 result must equal a plain dot product.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "kernels" / "bench" / "gemv_schemes.cpp"
DESIGNS = 6


def _has_avx2() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx2" in flags and " fma" in flags


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    if platform.machine() not in ("x86_64", "AMD64") or not _has_avx2():
        pytest.skip("needs an x86-64 CPU with AVX2 and FMA")
    cxx = next((c for c in ("c++", "g++", "clang++") if shutil.which(c)), None)
    if cxx is None:
        pytest.skip("no C++ compiler")
    exe = tmp_path_factory.mktemp("gemv") / "gemv_schemes"
    build = subprocess.run(
        [cxx, "-O2", "-std=c++17", "-mavx2", "-mfma", str(SOURCE), "-o", str(exe)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    run = subprocess.run(
        [str(exe), "--quick"], capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_every_design_is_exact_on_every_shape(quick_run: str) -> None:
    rows = [line for line in quick_run.splitlines() if line.startswith("  ")]
    assert len(rows) == 2 * DESIGNS, quick_run
    assert all(line.rstrip().endswith("yes") for line in rows), quick_run


def test_the_header_names_the_machine_and_the_roof(quick_run: str) -> None:
    lines = quick_run.splitlines()
    assert "1 thread" in lines[0] and "cold buffer 64 MiB" in lines[0]
    shape_lines = [line for line in lines if "read roof" in line]
    assert len(shape_lines) == 2 and all("GB/s" in line for line in shape_lines)
