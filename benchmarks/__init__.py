"""Benchmarks of pytest-channels, each reported as a ratio against a baseline measured in the same run.

Run them all with `python -m benchmarks` (see `benchmarks/README.md`).
"""
