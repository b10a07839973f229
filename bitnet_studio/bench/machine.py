"""What machine a benchmark ran on: CPU model (as ``lscpu`` names it), core count, SIMD
features, the kernel path, and how loaded the machine was."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

from bitnet_studio import kernels


def _from_cpuinfo(text: str) -> str:
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("model name", "hardware", "processor name") and value.strip():
            return value.strip()
    return ""


def _from_lscpu() -> str:
    exe = shutil.which("lscpu")
    if exe is None:
        return ""
    try:
        out = subprocess.run([exe], capture_output=True, text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Model name" and value.strip():
            return value.strip()
    return ""


def cpu_model() -> str:
    """``lscpu``'s "Model name" (read from /proc/cpuinfo on Linux, which is where lscpu
    reads it on x86), else the platform's processor string, else "unknown CPU"."""
    try:
        name = _from_cpuinfo(Path("/proc/cpuinfo").read_text(errors="replace"))
    except OSError:
        name = ""
    return name or _from_lscpu() or platform.processor() or "unknown CPU"


def load_average() -> float | None:
    """The 1-minute load average (None where the OS has none): how busy a shared machine
    was while a benchmark ran."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def load_text(start: float | None, end: float | None) -> str:
    """ "load 18.5 at start, 18.4 at end (1-min average, 2 CPUs)"."""
    if start is None or end is None:
        return "load: unknown"
    return f"load {start:.1f} at start, {end:.1f} at end (1-min average, {os.cpu_count()} CPUs)"


def machine_info() -> dict[str, object]:
    """cpu_model, cpus, simd_path (the active kernel path), available_paths, cpu_features."""
    info = kernels.info()
    feats = {k: v for k, v in dict(info.get("cpu_features", {})).items() if v}
    return {
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count() or 0,
        "simd_path": kernels.active_path(),
        "available_paths": list(kernels.available_paths()),
        "cpu_features": sorted(feats),
    }


def describe_machine(m: dict[str, object]) -> str:
    feats = ", ".join(m["cpu_features"]) or "none"  # type: ignore[arg-type]
    paths = ", ".join(m["available_paths"])  # type: ignore[arg-type]
    return (
        f"machine: {m['cpu_model']}, {m['cpus']} CPUs; SIMD path {m['simd_path']} "
        f"(available: {paths}; features: {feats})"
    )


def llamacpp_build() -> str:
    """The SIMD features llama.cpp was compiled for ("AVX2, AVX512, ..."), from its own system
    info; "" when llama-cpp-python is missing. It ignores our kernel path: a run that forces
    ``--path avx2`` on an AVX-512 machine still compares against an AVX-512 llama.cpp."""
    try:
        import llama_cpp
    except ImportError:
        return ""
    text = llama_cpp.llama_print_system_info().decode(errors="replace")
    on = [
        k.strip()
        for part in text.split("|")
        for k, _, v in [part.partition("=")]
        if v.strip() == "1"
    ]
    names = [k.rsplit(":", 1)[-1].strip() for k in on]
    return ", ".join(n for n in names if n)
