"""Run every benchmark and report each as a ratio against its baseline from the same run.

python -m benchmarks            # the full run: prints the table, writes
                                # benchmarks/results.md and docs/performance.png
python -m benchmarks --smoke    # small sizes, a minute or less: what CI runs, so that
                                # the benchmarks never rot (results go to a temp dir)
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import exploring, fan_out, presence, round_trip, startup, structure, suite, time_travel
from ._report import Row, table

ROOT = Path(__file__).resolve().parent.parent


def plot(results: list[fan_out.FanOut], path: Path) -> bool:
    """Fan-out time per message and memory per channel against the number of channels."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sizes = [r.channels for r in results]
    figure, (speed, memory) = plt.subplots(1, 2, figsize=(10, 4))
    speed.plot(sizes, [r.ours_per_message * 1e6 for r in results], "o-", label="pytest-channels")
    speed.plot(sizes, [r.floor_per_message * 1e6 for r in results], "s--", label="floor: asyncio.Queue per channel")
    speed.set(xscale="log", xlabel="joined channels", ylabel="µs per delivered message", title="Broadcast fan-out")
    memory.plot(sizes, [r.ours_bytes_per_channel / 1024 for r in results], "o-", label="pytest-channels")
    memory.plot(sizes, [r.floor_bytes_per_queue / 1024 for r in results], "s--", label="floor: one asyncio.Queue")
    memory.set(xscale="log", xlabel="joined channels", ylabel="KiB per joined channel", title="Memory per channel")
    for axes in (speed, memory):
        axes.set_ylim(bottom=0)
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes, results to a temp dir (what CI runs)")
    options = parser.parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="benchmarks-")) if options.smoke else ROOT

    started = time.perf_counter()
    rows: list[Row] = []
    for name, module in (("round trip", round_trip), ("time", time_travel)):
        print(f"running: {name}", file=sys.stderr)
        rows += module.run(options.smoke)
    print("running: fan-out", file=sys.stderr)
    fan_rows, fan_results = fan_out.run(options.smoke)
    rows += fan_rows
    print("running: presence", file=sys.stderr)
    rows += presence.run(options.smoke)
    for name, module in (("suite", suite), ("start-up", startup), ("fault explorer", exploring)):
        print(f"running: {name}", file=sys.stderr)
        rows += module.run(options.smoke)

    print("running: WebSocket server (benchmarks/bench_ws.py)", file=sys.stderr)
    served = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_ws.py"), *(["--smoke"] if options.smoke else [])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    print("running: structure", file=sys.stderr)
    shape = structure.report(structure.imported_package(), detail=False)

    report = "\n".join(
        [
            f"Measured {time.strftime('%Y-%m-%d')} on {platform.python_implementation()} "
            f"{platform.python_version()}, {platform.machine()}"
            + (" (smoke run: small sizes)" if options.smoke else "")
            + f"; the whole run took {time.perf_counter() - started:.0f} s.",
            "",
            table(rows),
            "",
            "Over WebSocket (`benchmarks/bench_ws.py`, against a bare echo server under the same uvicorn):",
            "",
            "```text",
            served.rstrip(),
            "```",
            "",
            "Structure (`benchmarks/structure.py`: counts, the same on every run; `python -m benchmarks.structure`",
            "adds each scenario's hops by pair and where control went, and every module's lines):",
            "",
            shape.rstrip(),
            "",
        ]
    )
    print(report)
    results = out / ("results.md" if options.smoke else "benchmarks/results.md")
    results.write_text(report)
    picture = out / ("performance.png" if options.smoke else "docs/performance.png")
    if plot(fan_results, picture):
        print(f"wrote {results} and {picture}", file=sys.stderr)
    else:
        print(f"wrote {results} (install matplotlib, in the `bench` extra, for the plot)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
