"""A locked list between a worker thread and the GUI's flush timer (Qt-free).

The worker ``push``es events as they come; a timer on the GUI thread ``take``s them all at
once, so the event loop sees one redraw per tick however fast the events are.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class EventSink(Generic[T]):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[T] = []

    def push(self, ev: T) -> None:
        with self.lock:
            self.events.append(ev)

    def take(self) -> list[T]:
        """Every event pushed since the last call, oldest first."""
        with self.lock:
            out, self.events = self.events, []
            return out
