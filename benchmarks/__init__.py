"""Benchmarks: `python3 -m benchmarks` runs them all; `python3 -m benchmarks.<module>` one.

Each `bench_*.py` module has a `main()` that prints its own numbers.
"""
