"""What machine a benchmark ran on: CPU model, core count, SIMD features and the kernel path."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess

from bitnet_studio import kernels


def cpu_model() -> str:
    """``lscpu``'s model name, else /proc/cpuinfo's, else the platform's processor string."""
    if shutil.which("lscpu"):
        try:
            out = subprocess.run(
                ["lscpu"], capture_output=True, text=True, timeout=5, check=False
            ).stdout
            for line in out.splitlines():
                key, _, value = line.partition(":")
                if key.strip() == "Model name" and value.strip():
                    return value.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


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
