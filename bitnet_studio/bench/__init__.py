"""Benchmarks: plain functions that take a progress callback and a cancel check (no Qt)."""
