"""Giving back resident pages of a read-only file mapping (Linux ``madvise(MADV_DONTNEED)``).

After the native backend has read a memory-mapped table once to quantize it (an int8 or
4-bit head made from the embedding), only a few embedding rows are looked up per token:
the pages read for the quantization need not stay in this process's resident set. For a
read-only file mapping the advice only unmaps them; the next access reads them back from
the page cache, so no data can be lost. Anything that is not a read-only ``np.memmap`` is
left alone (on anonymous memory the same advice would discard the data).
"""

from __future__ import annotations

import ctypes
import mmap
import sys

import numpy as np

_MADV_DONTNEED = 4  # Linux


def release_file_pages(a: object) -> bool:
    """Drops the pages of ``a`` (a read-only ``np.memmap`` or a view of one) from this
    process's resident set; returns True when it did."""
    if not sys.platform.startswith("linux") or not isinstance(a, np.memmap):
        return False
    if getattr(a, "mode", None) not in ("r", "c") or not a.flags.c_contiguous:
        return False
    page = mmap.PAGESIZE
    start = a.ctypes.data
    first = (start + page - 1) // page * page  # whole pages inside the array only
    last = (start + a.nbytes) // page * page
    if last <= first:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    return libc.madvise(ctypes.c_void_p(first), ctypes.c_size_t(last - first), _MADV_DONTNEED) == 0
