"""The C++ kernel test driver under AddressSanitizer + UndefinedBehaviorSanitizer.

Configures and builds ``kernel_tests`` (CMake preset ``sanitize``: BITNET_SANITIZE,
BITNET_KERNEL_TESTS, no Python module) into ``build/sanitize`` (git-ignored, so reruns are
incremental), runs it with the sanitizers set to halt on the first error, and requires a
clean exit with no sanitizer report.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "sanitize"
CONFIG = [
    "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
    "-DBITNET_SANITIZE=ON",
    "-DBITNET_KERNEL_TESTS=ON",
    "-DBITNET_PYTHON_MODULE=OFF",
]
REPORT_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "SUMMARY:")


def _tool(name: str) -> str | None:
    """A build tool from the interpreter's environment (the project venv), else from PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    return shutil.which(name)


def _compiler() -> str | None:
    for cand in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if cand and shutil.which(cand):
            return cand
    return None


def _run(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{out[-6000:]}")
    return out


def _build() -> Path:
    cmake = _tool("cmake")
    if cmake is None:
        pytest.skip("cmake is not installed")
    configure = [cmake, "-S", str(ROOT), "-B", str(BUILD), *CONFIG]
    ninja = _tool("ninja")
    cache = BUILD / "CMakeCache.txt"
    if ninja and not cache.exists():
        configure += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"]
    BUILD.mkdir(parents=True, exist_ok=True)
    # Several test runs (or developers) may share the checkout: build one at a time.
    with open(BUILD.parent / "sanitize.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _run(configure, timeout=300)
        except pytest.fail.Exception:
            # A stale cache (moved checkout, other generator): start the directory afresh.
            shutil.rmtree(BUILD)
            _run(configure, timeout=300)
        _run([cmake, "--build", str(BUILD), "--target", "kernel_tests", "-j", "2"], timeout=900)
    exe = BUILD / "kernel_tests"
    assert exe.exists(), f"the build did not produce {exe}"
    return exe


@pytest.mark.slow
def test_kernel_tests_clean_under_asan_and_ubsan() -> None:
    if _compiler() is None:
        pytest.skip("no C++ compiler (c++, g++ or clang++) on PATH")
    exe = _build()
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "halt_on_error=1:abort_on_error=0:detect_leaks=1:exitcode=86"
    env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1:exitcode=87"
    env.pop("BITNET_STUDIO_KERNEL_PATH", None)  # the driver checks every path itself
    proc = subprocess.run(
        [str(exe)], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env, check=False
    )
    out = proc.stdout + proc.stderr
    reports = [m for m in REPORT_MARKERS if m in out]
    assert proc.returncode == 0 and not reports, (
        f"kernel_tests exited {proc.returncode}, sanitizer reports {reports}:\n{out[-8000:]}"
    )
    assert "kernel_tests:" in out and ", 0 failed" in out, out[-2000:]
    assert "kernel_tests: binary " in out, "the binary (1-bit) kernel checks did not run"
