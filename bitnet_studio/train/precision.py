"""Which precision the training matmuls run in, from the CPU's features.

The recipe's bfloat16 autocast pays only where the CPU computes bf16 natively (AVX-512 BF16,
AMX): there torch's bf16 ``linear`` is several times faster than fp32. Elsewhere torch emulates
it and it is *slower* (issue 12: 5.4x on a 2-core AVX2 Zen 3), so training stays float32.
Linux reports the features in /proc/cpuinfo; where that file is missing (macOS, Windows) the
answer is fp32, the safe choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BF16_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class Precision:
    bf16: bool
    reason: str

    @property
    def name(self) -> str:
        return "bf16" if self.bf16 else "fp32"

    def describe(self) -> str:
        return f"{self.name} ({self.reason})"


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str] | None:
    """The first processor's feature flags, or None where /proc/cpuinfo is not readable."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def auto_precision(cpuinfo: Path = CPUINFO) -> Precision:
    flags = cpu_flags(cpuinfo)
    if flags is None:
        return Precision(False, "CPU features unknown, float32 is the safe choice")
    native = [f for f in BF16_FLAGS if f in flags]
    if native:
        return Precision(True, f"the CPU runs bf16 natively: {', '.join(native)}")
    return Precision(False, "no avx512_bf16 or amx_bf16: torch would emulate bf16, slower")


def choose(requested: str = "auto", cpuinfo: Path = CPUINFO) -> Precision:
    """``auto`` reads the CPU; ``bf16`` and ``fp32`` are the user's choice."""
    if requested == "auto":
        return auto_precision(cpuinfo)
    if requested in ("bf16", "fp32"):
        return Precision(requested == "bf16", "asked for")
    raise ValueError(f"unknown precision {requested!r} (expected auto, bf16 or fp32)")
