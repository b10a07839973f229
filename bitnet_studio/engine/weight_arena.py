"""One huge-page buffer for all of a model's packed ternary matrices.

Packed one by one, each matrix is its own allocation: the small ones (q/k/v/o of a 2B
model: 0.4-1.6 MB) land on 4 KiB pages, and decoding, which reads every weight once per
token, takes a TLB miss every 4 KiB of them. Packed into one buffer that starts on a
2 MiB boundary and is advised to use transparent huge pages
(:func:`~bitnet_studio.engine.residency.huge_page_buffer`), in the order the forward pass
reads them, the whole set sits on 2 MiB pages, and the software prefetch that runs 16 KiB
ahead of a matrix's end already fetches the start of the next one.
"""

from __future__ import annotations

import numpy as np

from bitnet_studio import kernels
from bitnet_studio.engine.residency import huge_page_buffer

ALIGN = 64  # every matrix starts on a cache line


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


class TernaryArena:
    """Hands out (rows, row_bytes) uint8 slices of one buffer, in the order asked for.

    ``shapes`` lists every (rows, cols) that will be taken, so the buffer is sized once.
    """

    def __init__(self, shapes: list[tuple[int, int]], layout: str) -> None:
        self.layout = layout
        self._sizes = [_aligned(r * kernels.row_bytes(layout, c)) for r, c in shapes]
        self.nbytes = sum(self._sizes)
        self._buf = huge_page_buffer(self.nbytes) if self.nbytes else None
        self._pos = 0
        self._taken = 0

    def take(self, rows: int, cols: int) -> np.ndarray:
        """The next slice, shaped for a (rows, cols) matrix in this arena's layout."""
        rb = kernels.row_bytes(self.layout, cols)
        size = _aligned(rows * rb)
        if self._buf is None or self._taken >= len(self._sizes) or size != self._sizes[self._taken]:
            raise ValueError(f"arena: a ({rows}, {cols}) matrix was not announced here")
        out = self._buf[self._pos : self._pos + rows * rb].reshape(rows, rb)
        self._pos += size
        self._taken += 1
        return out
