"""Typed wrapper over the compiled kernels (``bitnet_studio._kernels``).

Arrays are validated here, with clear errors, and passed to C++ without copies:
NumPy arrays and CPU torch tensors (viewed through NumPy, sharing memory) alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from bitnet_studio import _kernels as _k

LAYOUTS = ("i2", "b3")
DEFAULT_LAYOUT = "i2"
PATH_ENV = "BITNET_STUDIO_KERNEL_PATH"


class KernelArgumentError(ValueError):
    """A kernel was called with arrays of the wrong dtype, shape or memory layout."""


def _as_array(a: Any, name: str) -> np.ndarray:
    if isinstance(a, np.ndarray):
        return a
    mod = type(a).__module__
    if mod.startswith("torch"):
        if a.device.type != "cpu":
            raise KernelArgumentError(f"{name}: tensor is on {a.device}, kernels need CPU memory")
        if a.requires_grad:
            a = a.detach()
        try:
            return a.numpy()  # shares memory with the tensor
        except (TypeError, RuntimeError) as e:  # e.g. bfloat16, conjugate or sparse views
            raise KernelArgumentError(
                f"{name}: tensor cannot be viewed as a NumPy array: {e}"
            ) from None
    raise KernelArgumentError(
        f"{name}: expected a NumPy array or a CPU torch tensor, got {type(a)!r}"
    )


def _check(
    a: Any, name: str, dtype: np.dtype | type, ndim: int, writeable: bool = False
) -> np.ndarray:
    arr = _as_array(a, name)
    want = np.dtype(dtype)
    if arr.dtype != want:
        raise KernelArgumentError(f"{name}: dtype must be {want}, got {arr.dtype}")
    if arr.ndim != ndim:
        raise KernelArgumentError(f"{name}: expected {ndim}-D array, got shape {arr.shape}")
    if not arr.flags.c_contiguous:
        raise KernelArgumentError(f"{name}: array must be C-contiguous (use np.ascontiguousarray)")
    if arr.ctypes.data % arr.dtype.itemsize:
        raise KernelArgumentError(
            f"{name}: buffer address is not aligned to its {arr.dtype.itemsize}-byte element size"
        )
    if writeable and not arr.flags.writeable:
        raise KernelArgumentError(f"{name}: output array is read-only")
    return arr


def _call(fn: Any, *args: Any) -> None:
    """Calls a compiled kernel; its argument errors (std::invalid_argument) become ours."""
    try:
        fn(*args)
    except ValueError as e:
        raise KernelArgumentError(str(e)) from None


def _layout(layout: str) -> str:
    if layout not in LAYOUTS:
        raise KernelArgumentError(f"unknown ternary layout {layout!r}; expected one of {LAYOUTS}")
    return layout


@dataclass(frozen=True)
class PackedTernary:
    """A ternary weight matrix in one of the kernel layouts, with its scale(s).

    ``scale`` multiplies the integer dot products: y = (W_q . x_q) * scale / s_x. It holds
    one value (per tensor, gamma = mean|W| in BitNet) or one per row.
    """

    data: np.ndarray  # uint8 (rows, row_bytes)
    rows: int
    cols: int
    layout: str
    scale: np.ndarray  # float32 (1,) or (rows,)

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes + self.scale.nbytes)

    @property
    def bits_per_weight(self) -> float:
        return 8.0 * self.data.nbytes / max(1, self.rows * self.cols)


def info() -> dict[str, Any]:
    """Compiled paths, paths this CPU runs, the chosen path, threads and CPU features."""
    return {
        "compiled_paths": list(_k.compiled_paths()),
        "available_paths": list(_k.available_paths()),
        "path": _k.active_path(),
        "forced_by_env": os.environ.get(PATH_ENV) or None,
        "threads": _k.get_threads(),
        "cpu_features": dict(_k.cpu_features()),
        "layouts": list(LAYOUTS),
    }


def set_threads(n: int) -> None:
    """Resize the persistent thread pool (the caller's thread counts as one)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise KernelArgumentError(f"threads must be a positive integer, got {n!r}")
    _call(_k.set_threads, n)


def get_threads() -> int:
    return int(_k.get_threads())


def set_path(name: str) -> None:
    """Choose the SIMD path by name ('auto', 'scalar', 'avx2', 'avxvnni', 'avx512', 'neon')."""
    try:
        _k.set_path(name)
    except ValueError as e:
        raise KernelArgumentError(str(e)) from None


def active_path() -> str:
    return str(_k.active_path())


def available_paths() -> list[str]:
    return list(_k.available_paths())


def padded_cols(layout: str, cols: int) -> int:
    return int(_k.padded_cols(_layout(layout), cols))


def row_bytes(layout: str, cols: int) -> int:
    """Bytes of one packed row of ``cols`` weights in ``layout``."""
    return int(_k.row_bytes(_layout(layout), cols))


def pack_ternary(
    w_q: Any,
    scale: float | np.ndarray = 1.0,
    layout: str = DEFAULT_LAYOUT,
    out: np.ndarray | None = None,
) -> PackedTernary:
    """Pack int8 ternary weights (rows, cols) with values in {-1, 0, 1}.

    ``out``: where to pack, a C-contiguous uint8 array of shape (rows, row_bytes) (e.g. a
    slice of one arena that holds a whole model's weights); a new array when None.
    """
    w = _check(w_q, "w_q", np.int8, 2)
    rows, cols = w.shape
    if w.size and (int(w.min()) < -1 or int(w.max()) > 1):
        raise KernelArgumentError("w_q: ternary weights must be in {-1, 0, 1}")
    shape = (rows, row_bytes(layout, cols))
    if out is None:
        out = np.empty(shape, dtype=np.uint8)
    else:
        out = _check(out, "out", np.uint8, 2, writeable=True)
        if out.shape != shape:
            raise KernelArgumentError(f"out: expected shape {shape}, got {out.shape}")
    _call(_k.pack_ternary, layout, w, out)
    s = np.atleast_1d(np.asarray(scale, dtype=np.float32)).copy()
    if s.ndim != 1 or s.shape[0] not in (1, rows):
        raise KernelArgumentError(f"scale must have 1 or {rows} values, got shape {s.shape}")
    return PackedTernary(out, rows, cols, layout, s)


def unpack_ternary(p: PackedTernary) -> np.ndarray:
    out = np.empty((p.rows, p.cols), dtype=np.int8)
    _call(_k.unpack_ternary, p.layout, p.data, out)
    return out


def quantize_activations(
    x: Any, layout: str = DEFAULT_LAYOUT, path: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Per-token absmax int8 quantization, padded with zeros to the layout's block multiple."""
    x2 = _check(x, "x", np.float32, 2)
    xq = np.empty((x2.shape[0], padded_cols(layout, x2.shape[1])), dtype=np.int8)
    s = np.empty(x2.shape[0], dtype=np.float32)
    _call(_k.quantize_rows, x2, xq, s, path)
    return xq, s


def _batched(x: Any, name: str, dtype: type, cols: int) -> tuple[np.ndarray, bool]:
    arr = _as_array(x, name)
    vector = arr.ndim == 1
    arr = _check(arr.reshape(1, -1) if vector else arr, name, dtype, 2)
    if arr.shape[1] != cols:
        raise KernelArgumentError(f"{name}: expected {cols} columns, got {arr.shape[1]}")
    return arr, vector


def _out(out: Any, shape: tuple[int, int], dtype: type) -> np.ndarray:
    if out is None:
        return np.empty(shape, dtype=dtype)
    o = _check(out, "out", dtype, 2, writeable=True)
    if o.shape != shape:
        raise KernelArgumentError(f"out: expected shape {shape}, got {o.shape}")
    return o


def ternary_matmul_i32(p: PackedTernary, xq: Any, path: str = "") -> np.ndarray:
    """Exact integer products (batch, rows) of padded int8 activations with the ternary matrix."""
    x = _check(xq, "xq", np.int8, 2)
    if x.shape[1] != padded_cols(p.layout, p.cols):
        raise KernelArgumentError(
            f"xq: expected {padded_cols(p.layout, p.cols)} (padded) columns, got {x.shape[1]}"
        )
    out = np.empty((x.shape[0], p.rows), dtype=np.int32)
    _call(_k.ternary_matmul_i32, p.layout, p.data, p.cols, x, out, path)
    return out


def ternary_gemm(p: PackedTernary, x: Any, out: Any = None, path: str = "") -> np.ndarray:
    """y = W1.58A8 linear of float32 x (batch, cols) -> (batch, rows); x quantized per token."""
    x2, _ = _batched(x, "x", np.float32, p.cols)
    o = _out(out, (x2.shape[0], p.rows), np.float32)
    _call(_k.ternary_matmul_f32, p.layout, p.data, p.cols, x2, p.scale, o, path)
    return o


def ternary_gemv(p: PackedTernary, x: Any, out: Any = None, path: str = "") -> np.ndarray:
    """Matrix-vector form of :func:`ternary_gemm`: x (cols,) -> (rows,)."""
    x2, _ = _batched(x, "x", np.float32, p.cols)
    if x2.shape[0] != 1:
        raise KernelArgumentError("ternary_gemv takes one vector; use ternary_gemm for batches")
    o = None if out is None else _as_array(out, "out").reshape(1, -1)
    return ternary_gemm(p, x2, o, path)[0]


def f16_gemm(w: Any, x: Any, out: Any = None, path: str = "") -> np.ndarray:
    """y = x @ W.T with fp16 weights (rows, cols) and float32 x (batch, cols) or (cols,)."""
    wa = _as_array(w, "w")
    if wa.dtype == np.float16:
        wa = wa.view(np.uint16)
    w2 = _check(wa, "w", np.uint16, 2)
    x2, vector = _batched(x, "x", np.float32, w2.shape[1])
    o = _out(
        out if out is None or not vector else _as_array(out, "out").reshape(1, -1),
        (x2.shape[0], w2.shape[0]),
        np.float32,
    )
    _call(_k.f16_matmul, w2, x2, o, path)
    return o[0] if vector else o


def f32_gemm(w: Any, x: Any, out: Any = None, path: str = "") -> np.ndarray:
    """y = x @ W.T with float32 weights (rows, cols) and x (batch, cols) or (cols,)."""
    w2 = _check(w, "w", np.float32, 2)
    x2, vector = _batched(x, "x", np.float32, w2.shape[1])
    o = _out(
        out if out is None or not vector else _as_array(out, "out").reshape(1, -1),
        (x2.shape[0], w2.shape[0]),
        np.float32,
    )
    _call(_k.f32_matmul, w2, x2, o, path)
    return o[0] if vector else o


# ---- 1-bit (binary) weights: original BitNet / GGUF Q1_0 (kernels/binary.h) ------------

BINARY_BLOCK = 128


@dataclass(frozen=True)
class PackedBinary:
    """A 1-bit weight matrix (1 bit per weight, LSB first per 128-column block as in Q1_0).

    ``scale`` multiplies the integer dot products: one value per tensor (BitNet's beta) as
    shape (1,), or one per row and 128-column block as shape (rows, ceil(cols / 128)).
    """

    data: np.ndarray  # uint8 (rows, binary_row_bytes(cols))
    rows: int
    cols: int
    scale: np.ndarray  # float32 (1,) or (rows, nblocks)

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes + self.scale.nbytes)

    @property
    def bits_per_weight(self) -> float:
        return 8.0 * self.data.nbytes / max(1, self.rows * self.cols)


def binary_padded_cols(cols: int) -> int:
    return int(_k.binary_padded_cols(cols))


def binary_path(path: str = "") -> str:
    """The binary kernels' path for a (ternary) path name; '' = the active path."""
    try:
        return str(_k.binary_path(path))
    except ValueError as e:
        raise KernelArgumentError(str(e)) from None


def _binary_scale(scale: float | np.ndarray, rows: int, cols: int) -> np.ndarray:
    s = np.ascontiguousarray(np.asarray(scale, dtype=np.float32))
    nblocks = -(-cols // BINARY_BLOCK)
    if s.size == 1:
        return s.reshape(1).copy()
    if s.shape != (rows, nblocks):
        raise KernelArgumentError(
            f"scale must be one value or per block of shape {(rows, nblocks)}, got {s.shape}"
        )
    return s.copy()


def pack_binary(signs: Any, scale: float | np.ndarray = 1.0) -> PackedBinary:
    """Pack int8 signs (rows, cols) with values in {-1, +1}."""
    w = _check(signs, "signs", np.int8, 2)
    rows, cols = w.shape
    out = np.empty((rows, _k.binary_row_bytes(cols)), dtype=np.uint8)
    # The packer refuses any value but -1 and +1 (no full-size temporaries here).
    _call(_k.pack_binary, w, out)
    return PackedBinary(out, rows, cols, _binary_scale(scale, rows, cols))


def unpack_binary(p: PackedBinary) -> np.ndarray:
    out = np.empty((p.rows, p.cols), dtype=np.int8)
    _call(_k.unpack_binary, p.data, out)
    return out


def binary_matmul_i32(p: PackedBinary, xq: Any, path: str = "") -> np.ndarray:
    """Exact integer products (batch, rows) of padded int8 activations with the signs."""
    x = _check(xq, "xq", np.int8, 2)
    if x.shape[1] != binary_padded_cols(p.cols):
        raise KernelArgumentError(
            f"xq: expected {binary_padded_cols(p.cols)} (padded) columns, got {x.shape[1]}"
        )
    out = np.empty((x.shape[0], p.rows), dtype=np.int32)
    _call(_k.binary_matmul_i32, p.data, p.cols, x, out, path)
    return out


def binary_gemm(p: PackedBinary, x: Any, out: Any = None, path: str = "") -> np.ndarray:
    """y = W1A8 linear of float32 x (batch, cols) -> (batch, rows); x quantized per token."""
    x2, _ = _batched(x, "x", np.float32, p.cols)
    o = _out(out, (x2.shape[0], p.rows), np.float32)
    _call(_k.binary_matmul_f32, p.data, p.cols, x2, p.scale.reshape(-1), o, path)
    return o


def binary_gemv(p: PackedBinary, x: Any, out: Any = None, path: str = "") -> np.ndarray:
    """Matrix-vector form of :func:`binary_gemm`: x (cols,) -> (rows,)."""
    x2, _ = _batched(x, "x", np.float32, p.cols)
    if x2.shape[0] != 1:
        raise KernelArgumentError("binary_gemv takes one vector; use binary_gemm for batches")
    o = None if out is None else _as_array(out, "out").reshape(1, -1)
    return binary_gemm(p, x2, o, path)[0]
