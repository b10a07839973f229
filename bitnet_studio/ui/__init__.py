"""The desktop app (PySide6 + pyqtgraph): the only package that imports Qt.

Pages: Compare (``compare_page``), Inspect (``inspect_page``), Measure (``measure_page``).
Shared pieces: ``model_store.ModelStore`` (the loaded models, loaded off the GUI thread) and
``workers.Worker`` (a plain function with progress and cancel callbacks, run on a QThread).
"""
