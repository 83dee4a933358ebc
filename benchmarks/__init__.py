"""Benchmarks: speed and memory targets, run by ``make bench``, written to ``docs/benchmarks.md``."""
