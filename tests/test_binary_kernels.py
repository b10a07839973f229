"""The binary (1-bit) kernels against the NumPy reference, once per SIMD path this CPU runs.

Integer products must be exact (int64 reference); float outputs within float32 rounding of
``quant.binary.binary_linear_reference`` (per tensor) or of a float64 per-block reference.
Shapes are multiples of no block (128 columns, 16-row SIMD groups); bad arguments are
ValueErrors with a clear message, never crashes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from bitnet_studio import kernels
from bitnet_studio.quant import quantize_activations
from bitnet_studio.quant.binary import binarize, binary_linear_reference
from tests.seeded import rng_for

ROWS = (0, 1, 3, 17, 100)
COLS = (1, 31, 63, 64, 127, 128, 129, 200, 300, 576, 1000, 2560)
BATCHES = (1, 2, 3, 5, 8, 64, 70)


def _signs(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    return np.where(rng.random((rows, cols)) < 0.5, -1, 1).astype(np.int8)


def _padded(xq: np.ndarray, fill: int = 0) -> np.ndarray:
    out = np.full((xq.shape[0], kernels.binary_padded_cols(xq.shape[1])), fill, np.int8)
    out[:, : xq.shape[1]] = xq
    return out


def _check_i32(s: np.ndarray, xq: np.ndarray, path: str) -> None:
    p = kernels.pack_binary(s)
    got = kernels.binary_matmul_i32(p, _padded(xq), path)
    ref = xq.astype(np.int64) @ s.astype(np.int64).T
    assert got.dtype == np.int32 and got.shape == ref.shape
    if not np.array_equal(got, ref):
        bad = tuple(np.argwhere(got != ref)[0])
        pytest.fail(
            f"{path} rows={s.shape[0]} cols={s.shape[1]} batch={xq.shape[0]}: "
            f"{np.count_nonzero(got != ref)} wrong, first at {bad}: {got[bad]} != {ref[bad]}"
        )


@pytest.fixture
def threads() -> Iterator[Callable[[int], None]]:
    before = kernels.get_threads()
    yield kernels.set_threads
    kernels.set_threads(before)


def test_pack_round_trip_and_q1_0_bit_order() -> None:
    rng = rng_for("pack")
    for rows, cols in ((3, 1), (5, 128), (4, 129), (7, 1000)):
        s = _signs(rng, rows, cols)
        p = kernels.pack_binary(s)
        assert p.data.shape == (rows, 16 * -(-cols // 128))
        np.testing.assert_array_equal(kernels.unpack_binary(p), s)
        # GGUF Q1_0: element j is bit j % 8 of byte j / 8, LSB first, 1 = +1; padding 0.
        bits = np.zeros((rows, kernels.binary_padded_cols(cols)), np.uint8)
        bits[:, :cols] = s > 0
        np.testing.assert_array_equal(p.data, np.packbits(bits, axis=1, bitorder="little"))
    assert kernels.pack_binary(_signs(rng, 10, 1280)).bits_per_weight == 1.0


@pytest.mark.parametrize("cols", COLS)
def test_i32_random_shapes_exact(kernel_path: str, cols: int) -> None:
    rng = rng_for("i32", cols)
    for rows in ROWS:
        s = _signs(rng, rows, cols)
        for batch in BATCHES:
            xq = rng.integers(-128, 128, size=(batch, cols), dtype=np.int8)
            _check_i32(s, xq, kernel_path)


@pytest.mark.parametrize("cols", (1, 129, 2560, 16384))
def test_i32_extreme_values(kernel_path: str, cols: int) -> None:
    """All +1 / all -1 / alternating weights against saturating activations."""
    rows = 3 if cols > 4096 else 17
    alt_w = np.where(np.arange(cols) % 2 == 0, 1, -1).astype(np.int8)
    alt_x = np.where(np.arange(cols) % 2 == 0, 127, -128).astype(np.int8)
    weights = [np.ones((rows, cols), np.int8), -np.ones((rows, cols), np.int8)]
    weights.append(np.broadcast_to(alt_w, (rows, cols)).copy())
    for s in weights:
        for v in (127, -128, 0):
            _check_i32(s, np.full((2, cols), v, np.int8), kernel_path)
        _check_i32(s, np.broadcast_to(alt_x, (3, cols)).copy(), kernel_path)


def test_i32_padding_and_alignment(kernel_path: str) -> None:
    """Garbage in the padding columns is ignored; odd buffer addresses are fine."""
    rng = rng_for("align")
    for rows, cols in ((17, 129), (40, 300), (5, 1000)):
        s = _signs(rng, rows, cols)
        xq = rng.integers(-128, 128, size=(3, cols), dtype=np.int8)
        p = kernels.pack_binary(s)
        ref = xq.astype(np.int64) @ s.astype(np.int64).T
        got = kernels.binary_matmul_i32(p, _padded(xq, fill=-128), kernel_path)
        np.testing.assert_array_equal(got, ref)
        for off in (1, 3, 7):
            xbuf = np.zeros(_padded(xq).size + off, np.uint8)
            xv = xbuf[off:].view(np.int8).reshape(_padded(xq).shape)
            xv[:] = _padded(xq)
            wbuf = np.zeros(p.data.size + off, np.uint8)
            wv = wbuf[off:].reshape(p.data.shape)
            wv[:] = p.data
            got = kernels.binary_matmul_i32(dataclasses.replace(p, data=wv), xv, kernel_path)
            np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("cols", (1, 129, 300, 2560))
def test_gemm_per_tensor_matches_reference(kernel_path: str, cols: int) -> None:
    rng = rng_for("gemm", cols)
    w = rng.standard_normal((37, cols)).astype(np.float32) * 0.02
    s, beta = binarize(w)
    p = kernels.pack_binary(s, beta)
    for batch in (1, 4, 64, 70):
        x = rng.standard_normal((batch, cols)).astype(np.float32)
        _, ref = binary_linear_reference(s, beta, x)
        got = kernels.binary_gemm(p, x, path=kernel_path)
        # same int32 dots, same float32 scale arithmetic: equal to a few ulps
        np.testing.assert_allclose(got, ref, rtol=4 * np.finfo(np.float32).eps, atol=1e-30)
    v = kernels.binary_gemv(p, x[0], path=kernel_path)
    np.testing.assert_allclose(v, binary_linear_reference(s, beta, x[:1])[1][0], rtol=1e-6)


@pytest.mark.parametrize("cols", (1, 127, 129, 300, 1000, 2560))
def test_gemm_per_block_scales(kernel_path: str, cols: int) -> None:
    """Each 128-column block's exact partial sum times its own scale (Q1_0, Bonsai)."""
    rng = rng_for("blocks", cols)
    nb = -(-cols // 128)
    for rows in (1, 17, 33):
        s = _signs(rng, rows, cols)
        scale = rng.uniform(0.005, 0.05, (rows, nb)).astype(np.float32)
        p = kernels.pack_binary(s, scale)
        for batch in (1, 2, 5, 64, 70):
            x = rng.standard_normal((batch, cols)).astype(np.float32)
            xq, s_x = quantize_activations(x)
            pad = np.zeros((batch, nb * 128), np.float64)
            pad[:, :cols] = xq
            wpad = np.zeros((rows, nb * 128), np.float64)
            wpad[:, :cols] = s
            partial = np.einsum(
                "tbk,rbk->trb", pad.reshape(batch, nb, 128), wpad.reshape(rows, nb, 128)
            )
            ref = (partial * scale[None]).sum(-1) / s_x[:, None]
            # float32 rounding of sums whose terms are at most |x_q| * scale in size
            mags = np.abs(pad).reshape(batch, nb, 128).sum(-1)
            bound = (mags[:, None, :] * scale[None]).sum(-1) / s_x[:, None]
            got = kernels.binary_gemm(p, x, path=kernel_path)
            assert np.all(np.abs(got - ref) <= 1e-5 * bound + 1e-30), (rows, batch)
        # Scales of 1 everywhere: the block path gives the exact integer dots.
        ones = kernels.pack_binary(s, np.ones((rows, nb), np.float32))
        xi = rng.integers(-127, 128, size=(3, cols)).astype(np.float32)
        xi[:, 0] = 127  # s_x = 1 exactly
        exact = xi.astype(np.int64) @ s.astype(np.int64).T
        np.testing.assert_array_equal(kernels.binary_gemm(ones, xi, path=kernel_path), exact)


def test_threads_give_identical_results(kernel_path: str, threads: Callable[[int], None]) -> None:
    rng = rng_for("threads")
    s = _signs(rng, 300, 2560)
    xq = rng.integers(-128, 128, size=(5, 2560), dtype=np.int8)
    x = rng.standard_normal((5, 2560)).astype(np.float32)
    p = kernels.pack_binary(s, np.float32(0.03))
    pb = kernels.pack_binary(s, rng.uniform(0.01, 0.05, (300, 20)).astype(np.float32))
    results: dict[int, list[np.ndarray]] = {}
    for n in (1, 2):
        threads(n)
        results[n] = [
            kernels.binary_matmul_i32(p, _padded(xq), kernel_path),
            kernels.binary_gemm(p, x, path=kernel_path),
            kernels.binary_gemm(pb, x, path=kernel_path),
            kernels.binary_gemm(pb, x[:1], path=kernel_path),
        ]
    np.testing.assert_array_equal(results[1][0], xq.astype(np.int64) @ s.astype(np.int64).T)
    for a, b in zip(results[1], results[2], strict=True):
        np.testing.assert_array_equal(a, b)


def test_degenerate_shapes(kernel_path: str) -> None:
    p = kernels.pack_binary(_signs(rng_for("deg"), 5, 40))
    empty = np.zeros((0, 128), np.int8)
    assert kernels.binary_matmul_i32(p, empty, kernel_path).shape == (0, 5)
    assert kernels.binary_gemm(p, np.zeros((0, 40), np.float32), path=kernel_path).shape == (0, 5)
    p0 = kernels.pack_binary(np.zeros((0, 40), np.int8))
    assert kernels.binary_gemm(p0, np.ones((2, 40), np.float32), path=kernel_path).shape == (2, 0)


def _bad_calls() -> dict[str, tuple[Callable[[], object], str]]:
    s = np.ones((4, 40), np.int8)
    p = kernels.pack_binary(s)
    x = np.zeros((2, 40), np.float32)
    xq = np.zeros((2, 128), np.int8)
    readonly = np.zeros((2, 4), np.float32)
    readonly.flags.writeable = False
    return {
        "pack dtype": (lambda: kernels.pack_binary(s.astype(np.int16)), "dtype"),
        "pack ndim": (lambda: kernels.pack_binary(s[0]), "2-D"),
        "pack noncontig": (lambda: kernels.pack_binary(s[:, ::2]), "contiguous"),
        "pack zero": (lambda: kernels.pack_binary(s - 1), "-1 or"),
        "pack two": (lambda: kernels.pack_binary(s + 1), "-1 or"),
        "pack scale shape": (lambda: kernels.pack_binary(s, np.ones((4, 2), np.float32)), "scale"),
        "pack scale rows": (lambda: kernels.pack_binary(s, np.ones(4, np.float32)), "scale"),
        "pack list": (lambda: kernels.pack_binary([[1, -1]]), "NumPy array"),
        "i32 dtype": (lambda: kernels.binary_matmul_i32(p, xq.view(np.uint8)), "dtype"),
        "i32 unpadded": (lambda: kernels.binary_matmul_i32(p, xq[:, :40].copy()), "padded"),
        "i32 ndim": (lambda: kernels.binary_matmul_i32(p, xq[0]), "2-D"),
        "i32 path": (lambda: kernels.binary_matmul_i32(p, xq, path="sse9"), "sse9"),
        "gemm cols": (lambda: kernels.binary_gemm(p, np.zeros((2, 41), np.float32)), "columns"),
        "gemm dtype": (lambda: kernels.binary_gemm(p, x.astype(np.float64)), "dtype"),
        "gemm out shape": (
            lambda: kernels.binary_gemm(p, x, out=np.zeros((2, 5), np.float32)),
            "shape",
        ),
        "gemm out readonly": (lambda: kernels.binary_gemm(p, x, out=readonly), "read-only"),
        "gemm path": (lambda: kernels.binary_gemm(p, x, path="sse9"), "sse9"),
        "gemm packed rows": (
            lambda: kernels.binary_gemm(
                dataclasses.replace(p, cols=300), np.zeros((2, 300), np.float32)
            ),
            "cols",
        ),
        "gemm scale count": (
            lambda: kernels.binary_gemm(dataclasses.replace(p, scale=np.ones(3, np.float32)), x),
            "scale",
        ),
        "gemv batch": (lambda: kernels.binary_gemv(p, x), "one vector"),
        "binary_path": (lambda: kernels.binary_path("sse9"), "sse9"),
    }


@pytest.mark.parametrize("case", sorted(_bad_calls()))
def test_bad_arguments_raise_clear_errors(case: str) -> None:
    fn, match = _bad_calls()[case]
    with pytest.raises(kernels.KernelArgumentError, match=match) as exc:
        fn()
    assert isinstance(exc.value, ValueError)


def test_binary_path_follows_the_ternary_path() -> None:
    # The AVX-VNNI path is AVX2 plus its own ternary kernels: 1-bit rows use the AVX2 ones.
    same_isa = {"avxvnni": "avx2"}
    for name in kernels.available_paths():
        assert kernels.binary_path(name) == same_isa.get(name, name)
    active = kernels.active_path()
    assert kernels.binary_path() == same_isa.get(active, active)
