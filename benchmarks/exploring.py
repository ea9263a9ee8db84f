"""The fault explorer: what a run costs under it, and how long it takes to find and shrink a bug.

- Runs per second of a three-node scenario (50 messages over 5 virtual seconds, two simulated
  readers, network delays and drops) under `@explore`, against the same body run as many
  times under a fixed seed, each run in a fresh case, in one test: the explorer's own cost
  per run (drawing, arming the schedule, hypothesis's bookkeeping) is the difference.
- Wall time for the explorer to find the lost message in docs/exploring_failures_example.py
  (the at-most-once app) and shrink it, from an empty hypothesis database; and for the
  at-least-once app to hold over 1,000 runs.

Times are pytest's own call durations of the tests, so start-up and collection are left out;
both sides of the ratio run in each session, the explorer first, and the best of five is kept.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from ._report import Row

ROOT = Path(__file__).resolve().parent.parent

SCENARIO = """
from delivery_app import FeedSocket, Reader

from pytest_channels.explore import Faults, explore
from pytest_channels.testing import Settings
from pytest_channels.testing._explored import ExploredCase, Run

FAULTS = Faults(horizon=5, partitions=False)
SCHEDULES = []  # the schedules the explorer ran, in order: the fixed side runs exactly these


def scenario(channels):
    cluster = channels.cluster("server", "remote", "third")
    readers = [
        Reader(channels.client(FeedSocket, {{"name": name}}, node=node), "feed", ack=False)
        for name, node in (("ada", "server"), ("bob", "third"))
    ]
    channels.settle()
    for n in range(50):
        cluster["remote"].runtime.broadcast("feed", "msg", {{"id": n, "body": str(n)}})
        channels.advance(0.1)
    channels.advance(1)
    for reader in readers:
        reader.read()
        ids = [m.payload["id"] for m in reader.room.messages]
        assert ids == sorted(set(ids))  # at most once, in order: holds under every schedule


@explore(FAULTS)
def test_explored(channels):
    scenario(channels)
    SCHEDULES.append(channels._exploration.schedule)


def test_fixed():
    # The explorer's own schedules again, each run once in a fresh case with its faults set
    # on the clock and its seed fixed: the same work, without hypothesis choosing and recording it.
    assert len(SCHEDULES) >= {runs}
    for schedule in SCHEDULES:
        with ExploredCase(Settings(), Run(lambda names, s=schedule: s, FAULTS.horizon)) as channels:
            scenario(channels)
"""


def _pytest(args: list[str], cwd: Path) -> tuple[float, str]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:looptime"]
    start = time.perf_counter()
    done = subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done.stdout + done.stderr


DURATIONS = ["--durations=0", "--durations-min=0"]


def _calls(output: str) -> dict[str, float]:
    """Each test's call time, from pytest's durations: start-up and collection left out."""
    return {name: float(seconds) for seconds, name in re.findall(r"([\d.]+)s call\s+\S+::(test_\w+)", output)}


def _session(directory: Path, runs: int) -> tuple[float, float]:
    """The call time of the explored test and of the fixed runs, from pytest's own durations."""
    path = directory / "test_scenario.py"
    path.write_text(textwrap.dedent(SCENARIO.format(runs=runs)))
    ini = directory / "tox.ini"
    ini.write_text(f"[pytest]\npythonpath = {ROOT / 'docs'} {ROOT}\nasyncio_default_fixture_loop_scope = function\n")
    options = ["-c", str(ini), "-p", "benchmarks._explore_profiles", "--hypothesis-profile=explore-runs"]
    _, output = _pytest([str(path), *options, *DURATIONS], ROOT)
    calls = _calls(output)
    if "2 passed" not in output or len(calls) != 2:
        raise RuntimeError(f"the benchmark's scenario did not pass:\n{output}")
    return calls["test_explored"], calls["test_fixed"]


def run(smoke: bool) -> list[Row]:
    runs = 200  # the explore-runs profile's max_examples
    repeats = 1 if smoke else 5
    with tempfile.TemporaryDirectory(prefix="explore-bench-") as temp:
        directory = Path(temp)
        measured = [_session(directory, runs) for _ in range(repeats)]  # both sides in each session, in turn
        explored, fixed = min(m[0] for m in measured), min(m[1] for m in measured)
        example = ["docs/exploring_failures_example.py", "-p", "benchmarks._explore_profiles", *DURATIONS]
        _, found_output = _pytest(
            [*example, "-k", "at_most_once", "--runxfail", "--hypothesis-profile=explore-fresh"], ROOT
        )
        _, held_output = _pytest(
            [*example, "-k", "at_least_once", "--hypothesis-profile=explore-thousand", "--hypothesis-show-statistics"],
            ROOT,
        )
    found = re.search(r"found after (\d+) run", found_output)
    faults = re.search(r"events at one instant .*, (\d+) faults?:", found_output)
    counts = re.findall(r"(\d+) passing, (\d+) failing", held_output)
    passing, failing = sum(int(p) for p, _ in counts), sum(int(f) for _, f in counts)
    per_run_ours, per_run_fixed = explored / runs, fixed / runs  # derandomized: exactly `runs` each
    rows = [
        Row(
            "explorer: one run of 3 nodes, 50 messages, faults",
            per_run_ours,
            per_run_fixed,
            "s",
            "the same body under a fixed seed",
            "< 1.2x",
            per_run_ours < 1.2 * per_run_fixed,
        ),
        Row(
            f"  runs per second under the explorer: {1 / per_run_ours:,.0f} (fixed seed: {1 / per_run_fixed:,.0f})",
            per_run_ours,
            per_run_fixed,
            "s",
            "the same body under a fixed seed",
            "n/a (reported)",
            None,
        ),
        Row(
            f"explorer: find and shrink the at-most-once loss (found after {found.group(1) if found else '?'} runs, "
            f"shrunk to {faults.group(1) if faults else '?'} fault)",
            _calls(found_output).get("test_at_most_once_every_reader_gets_every_message", float("nan")),
            per_run_fixed,
            "s",
            "one run of the benchmark's scenario",
            "a few hundred runs, one fault",
            bool(found and int(found.group(1)) <= 300 and faults and faults.group(1) == "1"),
        ),
        Row(
            f"explorer: the at-least-once app over 1,000 runs ({passing} passing, {failing} failing)",
            _calls(held_output).get("test_at_least_once_every_reader_gets_every_message_once", float("nan")),
            per_run_fixed,
            "s",
            "one run of the benchmark's scenario",
            "holds",
            passing >= 1000 and failing == 0,
        ),
    ]
    return rows


if __name__ == "__main__":
    from ._report import table

    print(table(run("--smoke" in sys.argv)))
