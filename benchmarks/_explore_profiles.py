"""Hypothesis profiles for `exploring.py`, loaded into its pytest runs with `-p benchmarks._explore_profiles`."""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("explore-thousand", max_examples=1000)
settings.register_profile("explore-runs", max_examples=200, database=None, derandomize=True)
