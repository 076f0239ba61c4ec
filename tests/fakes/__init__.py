"""Test doubles usable by every test area and by the benchmarks."""
