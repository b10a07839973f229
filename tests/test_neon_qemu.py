"""The NEON path, cross-compiled for aarch64 and run under qemu-aarch64.

Builds the C++ kernel test driver (``kernel_tests``: ternary and binary kernels, every path
the emulated CPU runs, i.e. scalar and NEON) with the aarch64 cross compiler into
``build/neon`` (git-ignored, so reruns are incremental) and requires a clean pass.
Skipped where ``aarch64-linux-gnu-g++`` or ``qemu-aarch64`` is missing (``apt-get install
g++-aarch64-linux-gnu qemu-user``).
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "neon"
CROSS = "aarch64-linux-gnu-g++"
QEMU = "qemu-aarch64"


def _tool(name: str) -> str | None:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


def _run(cmd: list[str], timeout: float) -> str:
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{out[-6000:]}")
    return out


@pytest.mark.slow
def test_neon_kernels_under_qemu() -> None:
    cmake = _tool("cmake")
    if cmake is None or shutil.which(CROSS) is None or shutil.which(QEMU) is None:
        pytest.skip(f"needs cmake, {CROSS} and {QEMU}")
    configure = [
        cmake,
        "-S",
        str(ROOT),
        "-B",
        str(BUILD),
        "-DCMAKE_SYSTEM_NAME=Linux",
        "-DCMAKE_SYSTEM_PROCESSOR=aarch64",
        f"-DCMAKE_CXX_COMPILER={CROSS}",
        "-DCMAKE_EXE_LINKER_FLAGS=-static",
        "-DBITNET_KERNEL_TESTS=ON",
        "-DBITNET_PYTHON_MODULE=OFF",
    ]
    ninja = _tool("ninja")
    if ninja and not (BUILD / "CMakeCache.txt").exists():
        configure += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"]
    BUILD.mkdir(parents=True, exist_ok=True)
    with open(BUILD.parent / "neon.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _run(configure, timeout=300)
        _run([cmake, "--build", str(BUILD), "--target", "kernel_tests", "-j", "2"], timeout=900)
    out = _run([QEMU, str(BUILD / "kernel_tests")], timeout=600)
    assert "kernel_tests: paths scalar neon" in out, out[-2000:]
    assert "kernel_tests: binary " in out and ", 0 failed" in out, out[-2000:]
