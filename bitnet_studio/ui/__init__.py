"""The desktop app (PySide6 + pyqtgraph): the only package that imports Qt.

Pages: Compare (``compare_page``), Inspect (``inspect_page``), Measure (``measure_page``),
QAT lab (``qat_lab_page``). Shared pieces: ``model_store.ModelStore`` (the loaded models, loaded
off the GUI thread), ``workers.Worker`` (a plain function with progress and cancel callbacks,
run on a QThread) and ``event_sink.EventSink`` (a worker's events, taken by a flush timer).
"""
