"""Start-up: `pytest --co` on an empty suite with the plugin installed, against the same with it disabled."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._report import Row


def _collect(root: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", *args],
        cwd=root,
        capture_output=True,
        check=False,
    )
    return time.perf_counter() - start


def run(smoke: bool) -> list[Row]:
    runs = 3 if smoke else 21
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "pyproject.toml").write_text(CONFIG)
        # Alternate the two, so that a busy moment of the machine hits both alike. Take the
        # fastest of each: start-up has a fixed cost plus the machine's noise, and the noise of
        # two ~500 ms process launches swamps a median difference of a few milliseconds.
        with_plugin, without = [], []
        for _ in range(runs):
            with_plugin.append(_collect(root))
            without.append(_collect(root, "-p", "no:channels"))
    added = min(with_plugin) - min(without)
    baseline = min(without)
    return [
        Row(
            "pytest --co on an empty suite, time added",
            added,
            baseline,
            "s",
            "the plugin disabled",
            "< 30 ms",
            added < 0.03,
        )
    ]


CONFIG = '[tool.pytest.ini_options]\nasyncio_default_fixture_loop_scope = "function"\n'
