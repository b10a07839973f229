"""Quality and cost, measured side by side (no Qt).

``windows``: the sliding-window plan; ``scoring``: perplexity, bits per byte, per-token loss,
KL against a reference, run in chunks with progress and cancel; ``texts``: the bundled
evaluation texts; ``cost``: bytes, arithmetic and an energy *estimate* per token; ``run``:
models by name -> one ``EvalReport``; ``report``: the table, CSV and JSON.
"""
