"""The sliding-window plan: which tokens each window feeds, and which it scores.

A window covers stream positions ``[begin, end)``; the logits at position ``p`` predict
token ``p + 1``. Windows start every ``stride`` tokens, and each scores only the targets
that the previous window did not: ``[score_from, end)``. Every target after position 0 is
scored exactly once, with at least ``window - stride`` tokens of context (except in the
first window). ``window = context + 1, stride = context`` gives the non-overlapping windows
of ``train/evaluate.py``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    begin: int  # first stream position fed
    end: int  # one past the last target
    score_from: int  # first target scored here

    @property
    def context(self) -> int:
        """Tokens fed before the first position whose logits are needed."""
        return self.score_from - 1 - self.begin

    @property
    def scored(self) -> int:
        return self.end - self.score_from


def check_window(window: int, stride: int) -> None:
    if window < 2:
        raise ValueError(f"window must be at least 2 tokens, got {window}")
    if not 1 <= stride <= window - 1:
        raise ValueError(f"stride must be between 1 and window - 1 = {window - 1}, got {stride}")


def plan_windows(n_tokens: int, window: int, stride: int) -> list[Window]:
    """Windows over a stream of ``n_tokens`` (targets 1 .. n_tokens - 1)."""
    check_window(window, stride)
    out: list[Window] = []
    prev_end, begin = 1, 0
    while prev_end < n_tokens:
        end = min(begin + window, n_tokens)
        start = max(prev_end, begin + 1)
        if end > start:
            out.append(Window(begin, end, start))
        prev_end = max(prev_end, end)
        begin += stride
    return out
