"""One table of settings: `Settings`' fields. The ini options, the marker's line, the attributes'
docs and the docs' list are all read from it, so none can forget a setting or tell another default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_channels.testing import Settings
from pytest_channels.testing._settings import MARKER, SETTING_NAMES, SETTINGS, ini_help, shown

DOCS = Path(__file__).parents[2] / "docs"


def _docs_table() -> list[tuple[str, str, str]]:
    """The rows of the configuration table in getting-started.md: ini option, marker keyword, default."""
    rows = re.findall(
        r"^\| `(channels_\w+)` \| `(\w+)` \| `([^`]*)` \|", (DOCS / "getting-started.md").read_text(), re.M
    )
    assert rows, "the configuration table of getting-started.md was not found"
    return rows


def test_the_docs_list_every_setting_with_its_default_in_the_tables_order() -> None:
    expected = [(f"channels_{s.name}", s.name, shown(s.default)) for s in SETTINGS]
    assert _docs_table() == expected


def test_the_docs_list_the_valid_settings_as_the_error_for_a_misspelt_one_does() -> None:
    with pytest.raises(ValueError, match="unknown setting") as raised:
        Settings().updated({"assert_timout": 1}, source="@pytest.mark.channels")
    assert str(raised.value) in (DOCS / "getting-started.md").read_text()


def test_the_marker_line_the_ini_help_and_the_attributes_come_from_the_table() -> None:
    assert MARKER.startswith("channels(*, " + ", ".join(f"{name}=None" for name in SETTING_NAMES) + "): ")
    assert tuple(Settings.__dataclass_fields__) == SETTING_NAMES
    for setting in SETTINGS:
        assert ini_help(setting).endswith(f"(default {shown(setting.default)})")
        assert f"        {setting.name}: {setting.metadata['help']}." in (Settings.__doc__ or "")


def test_pytest_shows_the_tables_help_for_every_ini_option_and_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest("--help")
    for setting in SETTINGS:
        result.stdout.fnmatch_lines([f"  channels_{setting.name} *"])
    result.stdout.fnmatch_lines(["*(default 0.1)*"])
    markers = pytester.runpytest("--markers")
    markers.stdout.fnmatch_lines([f"@pytest.mark.{MARKER}"])


def test_the_reference_shows_the_tables_fields_with_their_defaults() -> None:
    heading = "`@dataclass(frozen=True) class Settings("
    line = next(line for line in (DOCS / "reference.md").read_text().splitlines() if line.startswith(heading))
    shown_there = [name for name in re.findall(r"(\w+)=", line.removeprefix(heading)) if name != "tzinfo"]
    assert shown_there == list(SETTING_NAMES)
    for setting in SETTINGS:
        if isinstance(setting.default, (bool, float)):
            assert f"{setting.name}={setting.default!r}" in line
