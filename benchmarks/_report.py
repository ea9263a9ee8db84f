"""Timing helpers and the table every benchmark fills in."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Row:
    """One measurement, its baseline from the same run, and the target it is held to."""

    name: str
    ours: float
    baseline: float
    unit: str
    baseline_name: str
    target: str
    met: bool | None = None

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("inf")


def best_of_each(repeats: int, *runs: Callable[[], float]) -> list[float]:
    """The smallest of `repeats` measurements of each run (the least disturbed), taken in turns.

    Taking turns (ours, the baseline, ours, ...) lets a slow spell of the machine, which
    lasts seconds on a shared host, hit both sides of a ratio instead of one of them.
    """
    results: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for run, measured in zip(runs, results, strict=True):
            gc.collect()
            measured.append(run())
    return [min(measured) for measured in results]


def timed(function: Callable[[], object]) -> float:
    """Real seconds `function` takes (perf_counter; the benchmarks never freeze time)."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def format_value(value: float, unit: str) -> str:
    if unit == "s":
        if abs(value) < 1e-3:
            return f"{value * 1e6:.1f} µs"
        if abs(value) < 1:
            return f"{value * 1e3:.2f} ms"
        return f"{value:.2f} s"
    if unit == "B":
        return f"{value / 1024:.2f} KiB" if value >= 1024 else f"{value:.0f} B"
    return f"{value:.3g} {unit}"


def table(rows: list[Row]) -> str:
    """A Markdown table of the rows."""
    lines = [
        "| benchmark | ours | baseline | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        met = "n/a" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(
            f"| {row.name} | {format_value(row.ours, row.unit)} | {format_value(row.baseline, row.unit)} "
            f"({row.baseline_name}) | {row.ratio:.2f}x | {row.target} | {met} |"
        )
    return "\n".join(lines)
