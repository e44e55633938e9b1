"""Vahti's benchmarks: ``python -m bench --size N --providers K`` (see bench/README.md)."""
