"""A whole suite: 1,000 generated channel tests through pytest, against the same tests with
the channel logic called as plain functions; and the same suite on two xdist workers."""

from __future__ import annotations

import functools
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._report import Row, best_of_each

CHANNEL = """
from typing import Any

from pytest_channels import Channel, InfoResult, InResult, JoinResult, Socket, noreply, ok, reply


class Counter(Channel):
    intercept = ("reset",)

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket.assign(count=0))

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        count = socket.assigns["count"] + payload["by"]
        self.send_after(1, "tick")
        return reply(socket, "ok", {"count": count})

    def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult:
        self.push("reset", payload)
        return noreply(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        self.push("tick", {})
        return noreply(socket)
"""

HARNESS_TEST = """
def test_{n}(channels):
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "counter:{n}", channel=Counter)
    ref = channels.push(socket, "inc", {{"by": {n}}})
    channels.assert_reply(ref, "ok", {{"count": {n}}})
    channels.assert_push("tick", {{}}, timeout=1)
    channels.broadcast_from(socket, "reset", {{"to": 0}})
    channels.assert_push("reset", {{"to": 0}})
"""

PLAIN_TEST = """
def test_{n}():
    channel = Counter()
    socket = channel.join("counter:{n}", {{}}, Socket()).socket
    assert channel_reply(channel, socket, {n}) == {{"count": {n}}}
"""

# A test with work of its own: a thousand round trips, about as much as a test that walks a
# channel through a long session. Shows what xdist does once its per-test cost is amortized.
HEAVY_TEST = """
def test_heavy_{n}(channels):
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "counter:{n}", channel=Counter)
    for i in range(1_000):
        channels.assert_reply(channels.push(socket, "inc", {{"by": i}}), "ok", {{"count": i}})
"""

HEAVY_COUNT = 200

PLAIN_HELPERS = """
from pytest_channels import Socket


def channel_reply(channel, socket, by):
    channel.send_after = lambda seconds, message: None
    return channel.handle_in("inc", {"by": by}, socket).payload
"""


def write_suite(root: Path, count: int) -> None:
    (root / "counter.py").write_text(CHANNEL)
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\nasyncio_default_fixture_loop_scope = "function"\n')
    harness = ["from counter import Counter", *(HARNESS_TEST.format(n=n) for n in range(count))]
    plain = ["from counter import Counter", PLAIN_HELPERS, *(PLAIN_TEST.format(n=n) for n in range(count))]
    heavy = ["from counter import Counter", *(HEAVY_TEST.format(n=n) for n in range(HEAVY_COUNT))]
    (root / "test_harness.py").write_text("\n".join(harness))
    (root / "test_plain.py").write_text("\n".join(plain))
    (root / "test_heavy.py").write_text("\n".join(heavy))


def pytest_seconds(root: Path, *args: str) -> float:
    """Wall seconds of one pytest run of the generated suite."""
    return _pytest_run(root, *args)[0]


def pytest_cpu_seconds(root: Path, *args: str) -> float:
    """CPU seconds (user and system) that run spent, in pytest and in every worker it started."""
    return _pytest_run(root, *args)[1]


def _pytest_run(root: Path, *args: str) -> tuple[float, float]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *args]
    environment = {**os.environ, "PYTHONPATH": str(root)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=root, env=environment, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"the generated suite failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def run(smoke: bool) -> list[Row]:
    count = 50 if smoke else 1_000
    repeats = 1 if smoke else 3
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        write_suite(root, count)
        harness, unfrozen, plain = best_of_each(
            repeats,
            lambda: pytest_seconds(root, "test_harness.py"),
            lambda: pytest_seconds(root, "test_harness.py", "-o", "channels_freeze_time=false"),
            lambda: pytest_seconds(root, "test_plain.py"),
        )
        rows = [
            Row(
                f"{count:,} channel tests, per test beyond plain pytest",
                (harness - plain) / count,
                plain / count,
                "s",
                "a plain-function test",
                "< 1 ms",
                (harness - plain) / count < 1e-3,
            ),
            Row(
                "  the same, with freezegun off (`channels_freeze_time = false`)",
                (unfrozen - plain) / count,
                plain / count,
                "s",
                "a plain-function test",
                "n/a (reported)",
                None,
            ),
        ]
        if smoke:  # at smoke sizes the workers' start-up dominates: run it once, report nothing
            pytest_seconds(root, "test_harness.py", "-n", "2")
        else:
            parallel, plain_parallel = best_of_each(
                repeats,
                lambda: pytest_seconds(root, "test_harness.py", "-n", "2"),
                lambda: pytest_seconds(root, "test_plain.py", "-n", "2"),
            )
            rows += [
                Row(
                    f"{count:,} channel tests on 2 xdist workers",
                    parallel,
                    harness,
                    "s",
                    "one process",
                    "near-linear (about 0.5x)",
                    parallel <= 0.65 * harness,
                ),
                Row(
                    f"  {count:,} plain-function tests on 2 xdist workers (xdist's own scaling)",
                    plain_parallel,
                    plain,
                    "s",
                    "one process",
                    "n/a (reported)",
                    None,
                ),
            ]
            heavy_parallel, heavy = best_of_each(
                repeats,
                lambda: pytest_seconds(root, "test_heavy.py", "-n", "2"),
                lambda: pytest_seconds(root, "test_heavy.py"),
            )
            rows.append(
                Row(
                    f"{HEAVY_COUNT} channel tests of 1,000 round trips each, on 2 xdist workers",
                    heavy_parallel,
                    heavy,
                    "s",
                    "one process",
                    "near-linear (about 0.5x)",
                    heavy_parallel <= 0.65 * heavy,
                )
            )
            # Why small tests do not scale on two cores: the CPU all processes spend, workers included.
            # CPU time hardly depends on what else the machine does: one run of each is enough.
            for label, test_file in (("channel", "test_harness.py"), ("plain-function", "test_plain.py")):
                on_two, alone = best_of_each(
                    1,
                    functools.partial(pytest_cpu_seconds, root, test_file, "-n", "2"),
                    functools.partial(pytest_cpu_seconds, root, test_file),
                )
                rows.append(
                    Row(
                        f"  CPU time of the {count:,} {label} tests on 2 xdist workers",
                        on_two,
                        alone,
                        "s",
                        "CPU time in one process",
                        "n/a (reported)",
                        None,
                    )
                )
    return rows
