"""Packed ternary weights share one huge-page buffer, in the order decode reads them."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

from bitnet_studio import kernels
from bitnet_studio.engine import native_backend, residency
from bitnet_studio.engine.native_backend import NativeBackend
from bitnet_studio.engine.residency import HUGE_PAGE, huge_page_buffer
from bitnet_studio.engine.weight_arena import TernaryArena
from bitnet_studio.kernels import KernelArgumentError
from bitnet_studio.models.weights import TernaryTensor
from tests.tiny_models import make_model


def _vma_field(addr: int, field: str) -> str | None:
    """``field`` of the /proc/self/smaps mapping that holds ``addr``."""
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and ":" not in head:
            lo, hi = (int(v, 16) for v in head.split("-"))
            inside = lo <= addr < hi
        elif inside and line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return None


def test_huge_page_buffer_is_aligned_writable_and_advised() -> None:
    buf = huge_page_buffer(3 * HUGE_PAGE + 100)
    assert buf.dtype == np.uint8 and buf.nbytes == 3 * HUGE_PAGE + 100 and buf.flags.writeable
    assert buf.ctypes.data % HUGE_PAGE == 0
    buf[:] = 7
    assert int(buf[-1]) == 7
    if not sys.platform.startswith("linux"):
        return
    mode = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    if not mode.exists() or "[never]" in mode.read_text():
        pytest.skip("transparent huge pages are off on this machine")
    # madvise(MADV_HUGEPAGE) makes the mapping eligible even in THP's "madvise" mode
    assert _vma_field(buf.ctypes.data, "THPeligible") == "1"


def test_huge_page_buffer_out_of_memory_is_a_memory_error(monkeypatch: pytest.MonkeyPatch) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the mapping is Linux-only")

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(residency.mmap, "mmap", refuse)
    with pytest.raises(MemoryError, match="packed weights"):
        huge_page_buffer(4 * HUGE_PAGE)


def test_pack_into_a_given_buffer_matches_a_fresh_pack() -> None:
    rng = np.random.default_rng(3)
    w = rng.integers(-1, 2, size=(48, 300), dtype=np.int8)
    for layout in kernels.LAYOUTS:
        fresh = kernels.pack_ternary(w, 0.5, layout)
        out = np.full((48, kernels.row_bytes(layout, 300)), 0xAB, dtype=np.uint8)
        got = kernels.pack_ternary(w, 0.5, layout, out=out)
        assert got.data is out
        np.testing.assert_array_equal(out, fresh.data)
        with pytest.raises(KernelArgumentError, match="expected shape"):
            kernels.pack_ternary(w, 0.5, layout, out=out[1:])
        out.flags.writeable = False
        with pytest.raises(KernelArgumentError, match="read-only"):
            kernels.pack_ternary(w, 0.5, layout, out=out)


def test_arena_hands_out_aligned_slices_in_order() -> None:
    shapes = [(64, 256), (16, 256), (64, 700)]
    arena = TernaryArena(shapes, "i2")
    got = [arena.take(r, c) for r, c in shapes]
    starts = [a.ctypes.data for a in got]
    assert starts == sorted(starts) and all(s % 64 == 0 for s in starts)
    for (r, c), a, nxt in zip(shapes, got, [*starts[1:], None], strict=True):
        assert a.shape == (r, kernels.row_bytes("i2", c))
        if nxt is not None:  # back to back, at most a cache line of padding between
            assert 0 <= nxt - (a.ctypes.data + a.nbytes) < 64
    with pytest.raises(ValueError, match="not announced"):
        arena.take(64, 256)
    with pytest.raises(ValueError, match="not announced"):
        TernaryArena([(8, 128)], "i2").take(8, 256)


def test_native_load_packs_every_ternary_linear_into_one_arena(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arenas: list[TernaryArena] = []

    class Recording(TernaryArena):
        def __init__(self, shapes: list[tuple[int, int]], layout: str) -> None:
            super().__init__(shapes, layout)
            self.shapes = shapes
            self.taken: list[np.ndarray] = []
            arenas.append(self)

        def take(self, rows: int, cols: int) -> np.ndarray:
            a = super().take(rows, cols)
            self.taken.append(a)
            return a

    monkeypatch.setattr(native_backend, "TernaryArena", Recording)
    m = make_model("bitnet-b1.58", seed=2)
    prompt = [3, 1, 4, 1, 5]
    a = NativeBackend().load(m, threads=1).prefill(prompt)
    (arena,) = arenas
    n_linears = m.config.n_layers * 7
    assert len(arena.taken) == len(arena.shapes) == n_linears
    starts = [t.ctypes.data for t in arena.taken]
    assert starts == sorted(starts)  # q, k, v, o, gate, up, down, layer by layer
    monkeypatch.undo()
    b = NativeBackend().load(m, threads=1).prefill(prompt)
    np.testing.assert_array_equal(a, b)


def test_native_load_unpacks_each_packed_tensor_once() -> None:
    """Sizing the arena reads shapes only; packing reads each tensor's codes once."""
    m = make_model("bitnet-b1.58", seed=3)
    calls: dict[str, int] = {}

    def packed(name: str, t: TernaryTensor) -> TernaryTensor:
        codes = t.codes

        def unpack() -> np.ndarray:
            calls[name] = calls.get(name, 0) + 1
            return codes.copy()

        return TernaryTensor(None, t.scale, "test", unpack=unpack, shape=t.shape)

    tensors = {n: packed(n, t) if isinstance(t, TernaryTensor) else t for n, t in m.tensors.items()}
    lazy = dataclasses.replace(m, tensors=tensors)
    prompt = [2, 7, 1, 8]
    got = NativeBackend().load(lazy, threads=1).prefill(prompt)
    assert calls and set(calls.values()) == {1}, calls
    np.testing.assert_array_equal(got, NativeBackend().load(m, threads=1).prefill(prompt))
