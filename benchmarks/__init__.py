"""Benchmarks for simqueue (run as modules, e.g. ``python -m benchmarks.bench_core``)."""
