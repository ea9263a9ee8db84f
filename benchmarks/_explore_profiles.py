"""Hypothesis profiles for `exploring.py`, loaded into its pytest runs with `-p benchmarks._explore_profiles`."""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("explore-thousand", max_examples=1000, database=None)
settings.register_profile("explore-fresh", database=None)  # found from scratch, not from a database
settings.register_profile("explore-runs", max_examples=200, database=None, derandomize=True)
