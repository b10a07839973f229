"""Backends, generation, sampling and metrics. Never imports Qt."""
