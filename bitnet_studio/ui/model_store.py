"""The models the app has loaded, shared by every page.

``ModelStore.load`` reads a model (a default's name, a GGUF file, a Hugging Face folder) and
opens it on a backend on a worker thread, never on the GUI thread; pages listen to the
``sig_*`` signals. A ``Session`` runs one generation at a time: whoever uses
``LoadedModel.session`` holds ``LoadedModel.lock`` meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from bitnet_studio.engine.registry import DEFAULT_MODELS, load_named_model, make_backend
from bitnet_studio.inspect.summary import summarize
from bitnet_studio.models.tokenizer import Tokenizer
from bitnet_studio.models.weights import ModelWeights
from bitnet_studio.ui.workers import Worker, start_worker


@dataclass
class LoadedModel:
    """One model, read and opened on a backend."""

    name: str  # the store's key: a default's name or a path (with "@backend" if not native)
    label: str  # what a user reads
    path: str | None  # the file or folder it came from (None only if unknown)
    backend: str  # "native" | "torch" | "llamacpp"
    threads: int | None
    weights: ModelWeights
    tokenizer: Tokenizer
    session: Any  # engine.backend.Session
    summary: dict[str, Any]  # inspect.summary.summarize(weights)
    slot: int | None = None  # the pane (or place) the caller asked it for
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def model_key(name_or_path: str | Path, backend: str = "native") -> str:
    """The store's name for a model opened on a backend."""
    key = str(name_or_path)
    return key if backend == "native" else f"{key}@{backend}"


def model_label(name_or_path: str | Path) -> str:
    key = str(name_or_path)
    if key in DEFAULT_MODELS:
        return DEFAULT_MODELS[key].label
    p = Path(key)
    return p.name or key


def open_model(
    name_or_path: str,
    backend: str,
    threads: int | None,
    progress: Callable[[Any], None] | None = None,
) -> LoadedModel:
    """Reads and opens one model (slow: run it off the GUI thread)."""
    report = progress or (lambda _v: None)
    report("reading")
    weights = load_named_model(name_or_path)
    source = getattr(weights, "source", None)
    return open_weights(
        weights,
        name=model_key(name_or_path, backend),
        label=model_label(name_or_path),
        backend=backend,
        threads=threads,
        path=str(source) if source else (None if name_or_path in DEFAULT_MODELS else name_or_path),
        progress=report,
    )


def open_weights(
    weights: ModelWeights,
    name: str,
    label: str,
    backend: str = "native",
    threads: int | None = None,
    path: str | None = None,
    progress: Callable[[Any], None] | None = None,
) -> LoadedModel:
    """Opens weights already in memory (e.g. a PTQ twin) on a backend (slow: off the GUI
    thread); ``ModelStore.add`` then puts the result in the store."""
    report = progress or (lambda _v: None)
    report("tokenizer")
    tokenizer = Tokenizer.for_model(weights)
    report("summary")
    summary = summarize(weights)
    report("backend")
    session = make_backend(backend).load(weights, threads)
    return LoadedModel(
        name=name,
        label=label,
        path=path,
        backend=backend,
        threads=threads,
        weights=weights,
        tokenizer=tokenizer,
        session=session,
        summary=summary,
    )


class ModelStore(QObject):
    """The loaded models, by name, in load order."""

    sig_loading = Signal(str)
    """name: a load has started."""
    sig_loaded = Signal(str)
    """name: the model is in the store (``get(name)``)."""
    sig_failed = Signal(str, str)
    """(name, message): the load failed; the message is readable, the store unchanged."""
    sig_removed = Signal(str)
    """name: the model was closed and is gone."""
    sig_progress = Signal(str, str)
    """(name, step): which step of a load is running."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._models: dict[str, LoadedModel] = {}
        self._loading: dict[str, Worker] = {}
        # Request order: models() lists models in the order they were asked for, not the
        # order their loads happened to finish (two loads race on worker threads).
        self._order: dict[str, int] = {}
        self.last_error_details: dict[str, str] = {}  # name -> traceback of its last failure

    def load(
        self,
        name_or_path: str | Path,
        backend: str = "native",
        threads: int | None = None,
        slot: int | None = None,
    ) -> str:
        """Starts loading on a worker thread; returns the name the signals will carry.

        A model already loaded (or loading) under that name is not loaded again: its
        ``sig_loaded`` is emitted again (or will be, once it is ready).
        """
        spec = str(name_or_path)
        name = model_key(spec, backend)
        if name in self._models:
            if slot is not None:
                self._models[name].slot = slot
            self.sig_loaded.emit(name)
            return name
        if name in self._loading:
            return name
        self._order.setdefault(name, len(self._order))
        self.sig_loading.emit(name)

        def work(progress: Callable[[Any], None], _cancel: Callable[[], bool]) -> LoadedModel:
            return open_model(spec, backend, threads, progress)

        def done(model: LoadedModel) -> None:
            self._loading.pop(name, None)
            model.slot = slot
            self._models[name] = model
            self.sig_loaded.emit(name)

        def failed(message: str, details: str) -> None:
            self._loading.pop(name, None)
            self.last_error_details[name] = details
            self.sig_failed.emit(name, message)

        self._loading[name] = start_worker(
            work,
            on_result=done,
            on_error=failed,
            on_progress=lambda step: self.sig_progress.emit(name, str(step)),
        )
        return name

    def add(self, model: LoadedModel) -> None:
        """Puts a model opened elsewhere (``open_weights``, e.g. the Inspect page's PTQ twin)
        in the store; one already there under that name is closed and replaced."""
        old = self._models.get(model.name)
        if old is not None and old is not model:
            self.remove(model.name)
        self._order.setdefault(model.name, len(self._order))
        self._models[model.name] = model
        self.sig_loaded.emit(model.name)

    def is_loading(self, name: str | None = None) -> bool:
        """Whether ``name`` (or any model, when None) is still loading."""
        return bool(self._loading) if name is None else name in self._loading

    def models(self) -> list[LoadedModel]:
        return [self._models[n] for n in self.names()]

    def names(self) -> list[str]:
        return sorted(self._models, key=lambda n: self._order.get(n, len(self._order)))

    def get(self, name: str) -> LoadedModel | None:
        return self._models.get(name)

    def remove(self, name: str) -> None:
        """Closes the model's session (after any generation using it) and forgets it."""
        model = self._models.pop(name, None)
        if model is None:
            return
        with model.lock:
            model.session.close()
        self.sig_removed.emit(name)

    def close_all(self) -> None:
        for name in list(self._models):
            self.remove(name)
