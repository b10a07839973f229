"""Run a plain function off the GUI thread (the superqt / orange3 pattern).

The function knows nothing about Qt: it receives two callbacks first, ``progress(value)`` to
report anything (a number, a token, a dict) and ``cancel() -> bool`` to check whether it should
stop, then its own arguments. The ``Worker`` wraps it in a QThread and turns what happens into
queued signals, so slots run on the GUI thread:

    w = start_worker(fn, arg, on_result=..., on_error=..., on_progress=...)
    w.cancel()  # fn sees cancel() -> True at its next check

Every started worker is remembered until it finishes, so a window (or a test) can cancel and
join them all: ``join_all()``.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QThread, Signal

from bitnet_studio.errors import StudioError

ProgressFn = Callable[[Any], None]
CancelFn = Callable[[], bool]

_ACTIVE: set[Worker] = set()
_ACTIVE_LOCK = threading.Lock()


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(a sentence a user can read, the technical details for an expandable box)."""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, StudioError):
        where = f"{exc.source}: " if exc.source else ""
        return f"{where}{exc.message}", details
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}", details


class Worker(QThread):
    """Runs ``fn(progress, cancel, *args, **kwargs)`` once on its own thread."""

    sig_progress = Signal(object)
    """Whatever ``fn`` passed to ``progress(value)``."""
    sig_result = Signal(object)
    """``fn``'s return value, when it returned normally."""
    sig_error = Signal(str, str)
    """(message, details) when ``fn`` raised; see ``describe_error``."""
    sig_done = Signal()
    """After ``sig_result`` or ``sig_error``: the work is over either way."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._cancel = threading.Event()
        self.setObjectName(f"worker:{getattr(fn, '__name__', 'fn')}")

    def cancel(self) -> None:
        """Ask ``fn`` to stop; it sees ``cancel() -> True`` at its next check."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:  # on the worker thread
        try:
            result = self._fn(
                self.sig_progress.emit, self._cancel.is_set, *self._args, **self._kwargs
            )
        except BaseException as exc:  # every failure becomes a signal
            message, details = describe_error(exc)
            self.sig_error.emit(message, details)
        else:
            self.sig_result.emit(result)
        self.sig_done.emit()


def _forget(worker: Worker) -> None:
    # ``finished`` is emitted from the thread just before it ends: let it end first.
    worker.wait()
    with _ACTIVE_LOCK:
        _ACTIVE.discard(worker)
    worker.deleteLater()


def start_worker(
    fn: Callable[..., Any],
    *args: Any,
    on_result: Callable[[Any], None] | None = None,
    on_error: Callable[[str, str], None] | None = None,
    on_progress: Callable[[Any], None] | None = None,
    on_done: Callable[[], None] | None = None,
    **kwargs: Any,
) -> Worker:
    """Creates, connects and starts a ``Worker``; it is kept alive until it finishes."""
    worker = Worker(fn, *args, **kwargs)
    if on_result is not None:
        worker.sig_result.connect(on_result)
    if on_error is not None:
        worker.sig_error.connect(on_error)
    if on_progress is not None:
        worker.sig_progress.connect(on_progress)
    if on_done is not None:
        worker.sig_done.connect(on_done)
    worker.finished.connect(lambda: _forget(worker))
    with _ACTIVE_LOCK:
        _ACTIVE.add(worker)
    worker.start()
    return worker


def active_workers() -> list[Worker]:
    """Workers started and not yet finished (and forgotten)."""
    with _ACTIVE_LOCK:
        return list(_ACTIVE)


def join_all(timeout_s: float = 10.0, cancel: bool = True) -> bool:
    """Cancels (by default) and waits for every running worker; True if all have ended."""
    workers = active_workers()
    if cancel:
        for w in workers:
            w.cancel()
    ok = True
    for w in workers:
        if w.wait(int(timeout_s * 1000)):
            with _ACTIVE_LOCK:
                _ACTIVE.discard(w)
        else:
            ok = False
    return ok
