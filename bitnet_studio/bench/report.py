"""Text tables for the kernel benchmark: timings per case, then ratios per shape."""

from __future__ import annotations

from collections.abc import Sequence

from bitnet_studio.bench.bandwidth import Bandwidth
from bitnet_studio.bench.kernel_bench import Record, Shape

Key = tuple[str, int, int, int, int, str]  # backend, rows, cols, batch, threads, regime


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """Columns padded to width; the first ``left`` columns are left-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(r: Sequence[str]) -> str:
        pairs = enumerate(zip(r, widths, strict=True))
        cells = [c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in pairs]
        return "  ".join(cells).rstrip()

    return [fmt(header), *(fmt(r) for r in rows)]


def _us(v: float) -> str:
    return f"{v:.1f}" if v < 1e5 else f"{v:.3g}"


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _index(records: Sequence[Record]) -> dict[Key, Record]:
    return {(r.backend, r.rows, r.cols, r.batch, r.threads, r.regime): r for r in records}


def _shape_label(rows: int, cols: int, shapes: Sequence[Shape]) -> str:
    roles = [f"{s.model} {s.role}" for s in shapes if (s.rows, s.cols) == (rows, cols)]
    return roles[0] if roles else ""


def timing_lines(
    records: Sequence[Record], threads: int, bw: Bandwidth, shapes: Sequence[Shape]
) -> list[str]:
    """One row per shape, batch and backend, cold and warm side by side."""
    idx = _index(records)
    mine = [r for r in records if r.threads == threads]
    regimes = list(dict.fromkeys(r.regime for r in mine))
    header = ["shape", "layer", "op", "batch", "backend"]
    for g in regimes:
        header += [f"{g} us", f"{g} GB/s", f"{g} %bw"]
    rows: list[list[str]] = []
    seen: set[tuple[int, int, int, str]] = set()
    for r in mine:
        case = (r.rows, r.cols, r.batch, r.backend)
        if case in seen:
            continue
        seen.add(case)
        row = [f"{r.rows}x{r.cols}", _shape_label(r.rows, r.cols, shapes), r.op, str(r.batch)]
        row.append(r.backend)
        for g in regimes:
            rec = idx.get((r.backend, r.rows, r.cols, r.batch, threads, g))
            if rec is None:
                row += ["-", "-", "-"]
            else:
                share = 100.0 * rec.weight_gbps / rec.bandwidth_gbps
                row += [_us(rec.median_us), f"{rec.weight_gbps:.2f}", f"{share:.0f}%"]
        rows.append(row)
    title = f"threads={threads}: {roof_text(bw)}; GB/s = weight bytes / median time, " + (
        "%bw = its share of the streaming read"
    )
    return [title, *_table(header, rows, left=5)]


def roof_text(bw: Bandwidth) -> str:
    """ "streaming read 18.6 GB/s (median of 3: 17.9-19.0, 1024 MiB buffer)"."""
    mib = f"{bw.nbytes / (1 << 20):.0f} MiB buffer"
    if len(bw.samples) > 1:
        lo, hi = bw.spread
        n = len(bw.samples)
        return f"streaming read {bw.gbps:.1f} GB/s (median of {n}: {lo:.1f}-{hi:.1f}, {mib})"
    return f"streaming read {bw.gbps:.1f} GB/s ({mib})"


def header_lines(cpu: str, path: str, available: Sequence[str], load: str = "") -> list[str]:
    """The machine, its load and the SIMD path, printed above the tables."""
    lines = [f"cpu: {cpu}", f"kernel path: {path} (this CPU runs: {', '.join(available)})"]
    return [*lines, f"machine {load}"] if load else lines


def summary_lines(
    records: Sequence[Record], threads: int, bw: Bandwidth, prefix: str = "ternary"
) -> list[str]:
    """Per shape, for our ternary kernels: the cold batch-1 call (time, GB/s, share of the
    roof), the warm one's GB/s (the compute ceiling while the weights sit in cache), and
    the largest batch's cold time per token with its speed-up over a cold batch-1 call
    (medians; and from each case's fastest call, which a busy machine's preemptions
    distort less when a call is long)."""
    idx = _index(records)
    mine = [r for r in records if r.threads == threads and r.backend.startswith(prefix)]
    big = max((r.batch for r in mine), default=1)
    header = ["shape", "backend", "b1 cold us", "GB/s", "% roof", "b1 warm GB/s"]
    if big > 1:
        header += [f"b{big} cold us/tok", f"b{big} speed-up/tok", "(best calls)"]
    rows: list[list[str]] = []
    for rows_, cols, backend in dict.fromkeys((r.rows, r.cols, r.backend) for r in mine):
        one = idx.get((backend, rows_, cols, 1, threads, "cold"))
        warm = idx.get((backend, rows_, cols, 1, threads, "warm"))
        many = idx.get((backend, rows_, cols, big, threads, "cold"))
        row = [f"{rows_}x{cols}", backend]
        if one is None:
            row += ["-", "-", "-"]
        else:
            share = 100.0 * one.weight_gbps / bw.gbps
            row += [_us(one.median_us), f"{one.weight_gbps:.2f}", f"{share:.0f}%"]
        row.append("-" if warm is None else f"{warm.weight_gbps:.2f}")
        if big > 1:
            per_tok = None if many is None else many.median_us / big
            row.append("-" if per_tok is None else _us(per_tok))
            row.append(_x(one.median_us / per_tok if one and per_tok else None))
            best = one and many and one.best_us > 0 and many.best_us > 0
            row.append(_x(big * one.best_us / many.best_us if best else None))
        rows.append(row)
    if not rows:
        return []
    title = f"summary, threads={threads}: {roof_text(bw)}; % roof = cold GB/s / median roof"
    return [title, *_table(header, rows, left=2)]


def _speedup(idx: dict[Key, Record], base: Key, other: Key) -> float | None:
    a, b = idx.get(base), idx.get(other)
    return None if a is None or b is None else b.median_us / a.median_us


def ratio_lines(records: Sequence[Record], threads: int, ref: str = "ternary") -> list[str]:
    """Per shape and regime: ``ref`` against torch (other's time / ref's time, > 1 means
    ``ref`` is faster), and every backend's per-token speedup of the largest batch over
    as many batch-1 calls."""
    idx = _index(records)
    mine = [r for r in records if r.threads == threads]
    backends = list(dict.fromkeys(r.backend for r in mine))
    batches = sorted({r.batch for r in mine})
    big = batches[-1] if batches and batches[-1] > 1 else None
    has_one = 1 in batches
    header = ["shape", "regime"]
    cmp = [b for b in ("torch-f32", "torch-bf16") if b in backends and ref in backends]
    for b in cmp:
        header += [f"vs {b} b{n}" for n in ([1, big] if big else [1])]
    if big and has_one:
        header += [f"{b} b{big}/tok" for b in backends]
    rows: list[list[str]] = []
    for rows_, cols, regime in dict.fromkeys((r.rows, r.cols, r.regime) for r in mine):
        row = [f"{rows_}x{cols}", regime]
        for b in cmp:
            for batch in [1, big] if big else [1]:
                k = (rows_, cols, batch, threads, regime)
                row.append(_x(_speedup(idx, (ref, *k), (b, *k))))
        if big and has_one:
            for b in backends:
                one = idx.get((b, rows_, cols, 1, threads, regime))
                many = idx.get((b, rows_, cols, big, threads, regime))
                row.append(_x(big * one.median_us / many.median_us if one and many else None))
        rows.append(row)
    if len(header) == 2:
        return []
    title = (
        f"ratios, threads={threads} ({ref} vs X: X's time / {ref}'s, > 1 = {ref} faster; "
        f"b{big}/tok: {big} batch-1 calls' time / one batch-{big} call's)"
    )
    return [title, *_table(header, rows, left=2)]
