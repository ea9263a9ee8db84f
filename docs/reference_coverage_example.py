"""Keep docs/reference.md complete: every public name, and every method of the harness, is documented."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import pytest_channels
import pytest_channels.explore
import pytest_channels.opentelemetry
import pytest_channels.redis
import pytest_channels.testing
from pytest_channels.testing import AsyncChannelCase, ChannelCase

REFERENCE = (Path(__file__).parent / "reference.md").read_text()
HEADINGS = {
    name.strip(" `")
    for line in REFERENCE.splitlines()
    if line.startswith("#### ")
    for name in line.removeprefix("#### ").split(",")
}


@pytest.mark.parametrize(
    "name",
    [
        *pytest_channels.__all__,
        *pytest_channels.testing.__all__,
        *pytest_channels.redis.__all__,
        *pytest_channels.opentelemetry.__all__,
        *pytest_channels.explore.__all__,
    ],
)
def test_every_public_name_has_a_heading(name: str) -> None:
    assert name in HEADINGS


PUBLIC = {
    *pytest_channels.__all__,
    *pytest_channels.testing.__all__,
    *pytest_channels.redis.__all__,
    *pytest_channels.opentelemetry.__all__,
    *pytest_channels.explore.__all__,
}


def test_every_heading_that_is_a_name_is_a_public_one() -> None:
    # A name taken out of __all__ keeps no heading of its own: it is described where users meet
    # it (`Runtime.telemetry`, `channels.mailbox`), so the reference never offers an import that fails.
    stale = sorted(name for name in HEADINGS if name.isidentifier() and name not in PUBLIC)
    assert stale == []


@pytest.mark.parametrize("case", [ChannelCase, AsyncChannelCase], ids=lambda case: case.__name__)
def test_every_harness_method_is_described(case: type[object]) -> None:
    public = [name for name, _ in inspect.getmembers(case) if not name.startswith("_")]
    missing = [name for name in public if f"`{name}" not in REFERENCE]
    assert missing == []


def test_every_channel_function_is_described() -> None:
    public = [name for name in vars(pytest_channels.Channel) if not name.startswith("_")]
    missing = [name for name in public if f"`{name}" not in REFERENCE]
    assert missing == []
