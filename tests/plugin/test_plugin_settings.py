"""Ini options and the `channels` marker: each setting takes effect, the closest marker wins,
and a bad value is a usage error that says what is wrong."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

MakeIni = Callable[[str], Path]

STRICT_TOML = """
asyncio_default_fixture_loop_scope = "function"
filterwarnings = [
    "error",
    "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning",
]
"""


def make_pyproject(pytester: pytest.Pytester, table: str, options: str) -> None:
    """Configure the inner session from pyproject.toml alone: the strict defaults, then `options`."""
    (pytester.path / "tox.ini").unlink()
    pytester.makepyprojecttoml(f"[{table}]{STRICT_TOML}{textwrap.dedent(options)}")


def test_channels_assert_timeout_sets_how_long_assertions_wait_by_default(
    pytester: pytest.Pytester, make_ini: MakeIni
) -> None:
    make_ini("channels_assert_timeout = 3")
    pytester.makepyfile(
        """
        import pytest
        from sample_channels import RoomChannel

        def test_assertions_wait_three_virtual_seconds(channels):
            assert channels.settings.assert_timeout == 3
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.push(socket, "remind", {"after": 2.5, "text": "tea"})
            channels.assert_push("reminder", {"text": "tea"})
            assert channels.now == 2.5
            with pytest.raises(AssertionError, match=r"nothing matched within 3000 ms of virtual time"):
                channels.assert_push("never")
            assert channels.now == 5.5
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_channels_refute_timeout_sets_how_long_refutations_wait_by_default(
    pytester: pytest.Pytester, make_ini: MakeIni
) -> None:
    make_ini("channels_refute_timeout = 7")
    pytester.makepyfile(
        """
        def test_refutations_wait_seven_virtual_seconds(channels):
            channels.refute_push()
            assert channels.now == 7
            channels.refute_broadcast()
            assert channels.now == 14
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_channels_idle_timeout_sets_how_long_a_busy_handler_may_block_the_test(
    pytester: pytest.Pytester, make_ini: MakeIni
) -> None:
    # The join itself hangs, so the guard's window holds nothing else: however slow the machine,
    # it can only ever find the join still waiting (no legitimate work of the test can race it).
    make_ini("channels_idle_timeout = 0.01")
    pytester.makepyfile(
        """
        from sample_channels import HangOnJoin

        def test_a_join_that_awaits_forever(channels):
            assert channels.runtime.idle_timeout == 0.01
            channels.join(channels.socket(), "room:1", channel=HangOnJoin)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *NotIdle: the channels were still busy after 0.01s of real time:",
            "E *  - HangOnJoin (topic 'room:1') in join",
            "E *A handler is awaiting something that never completes (real I/O, an event nobody sets). "
            "Raise idle_timeout if the wait is real and slow.",
        ],
        consecutive=True,
    )


def test_channels_freeze_time_false_leaves_the_wall_clock_real(pytester: pytest.Pytester, make_ini: MakeIni) -> None:
    make_ini("channels_freeze_time = false")
    pytester.makepyfile(
        """
        import time
        from sample_channels import RoomChannel

        def test_channel_code_reads_the_real_clock(channels):
            before = time.time()
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.advance(3600)
            ref = channels.push(socket, "clock")
            reply = channels.assert_reply(ref, "ok")
            assert before <= reply.payload["time"] <= time.time() < before + 3600
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_channels_wall_start_sets_the_wall_clock_time_of_virtual_instant_0(
    pytester: pytest.Pytester, make_ini: MakeIni
) -> None:
    make_ini("channels_wall_start = 2030-05-01T12:00:00Z")
    pytester.makepyfile(
        """
        import datetime as dt
        from sample_channels import RoomChannel

        def test_the_wall_clock_starts_in_2030(channels):
            assert channels.clock.wall() == dt.datetime(2030, 5, 1, 12, tzinfo=dt.UTC)
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.advance(90)
            ref = channels.push(socket, "clock")
            channels.assert_reply(ref, "ok", {"time": 1903867290.0, "now": "2030-05-01T12:01:30+00:00"})
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_channels_check_payloads_false_lets_python_objects_cross_the_wire(
    pytester: pytest.Pytester, make_ini: MakeIni
) -> None:
    make_ini("channels_check_payloads = false")
    pytester.makepyfile(
        """
        from sample_channels import RoomChannel

        def test_a_set_is_pushed_and_replied(channels):
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            ref = channels.push(socket, "ping", {"n": {1, 2}})
            channels.assert_reply(ref, "ok", {"pong": {1, 2}})
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_payloads_are_checked_by_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_channels import PayloadError
        from sample_channels import RoomChannel

        def test_a_set_is_refused(channels):
            assert channels.settings.check_payloads is True
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            with pytest.raises(PayloadError, match=r"cannot be sent as JSON"):
                channels.push(socket, "ping", {"n": {1, 2}})
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


EVERY_SETTING_TEST = """
import datetime as dt
from pytest_channels.testing import Settings

def test_every_setting_comes_from_the_configuration(channels):
    assert channels.settings == Settings(
        assert_timeout=3,
        refute_timeout=0.5,
        idle_timeout=9,
        freeze_time=False,
        wall_start=dt.datetime(2030, 5, 1, 10, tzinfo=dt.UTC),
        check_payloads=False,
    )
"""


@pytest.mark.parametrize(
    ("table", "options"),
    [
        pytest.param(
            "tool.pytest.ini_options",
            """
            channels_assert_timeout = "3"
            channels_refute_timeout = "0.5"
            channels_idle_timeout = "9"
            channels_freeze_time = "false"
            channels_wall_start = "2030-05-01T12:00:00+02:00"
            channels_check_payloads = "no"
            """,
            id="ini_options strings",
        ),
        # pytest 9 recommends `[tool.pytest]` with native TOML types: a number or a bool must
        # do. wall_start stays a quoted string: pytest has no ini type for a TOML datetime.
        pytest.param(
            "tool.pytest",
            """
            channels_assert_timeout = 3
            channels_refute_timeout = 0.5
            channels_idle_timeout = 9
            channels_freeze_time = false
            channels_wall_start = "2030-05-01T10:00:00Z"
            channels_check_payloads = false
            """,
            id="native TOML values",
        ),
    ],
)
def test_the_ini_options_are_read_from_pyproject_toml(pytester: pytest.Pytester, table: str, options: str) -> None:
    make_pyproject(pytester, table, options)
    pytester.makepyfile(EVERY_SETTING_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_the_closest_channels_marker_wins_over_class_module_and_ini(
    pytester: pytest.Pytester, make_ini: MakeIni
) -> None:
    make_ini("channels_refute_timeout = 7\nchannels_assert_timeout = 3")
    pytester.makepyfile(
        test_without_markers="""
        def test_the_ini_applies(channels):
            channels.refute_push()
            assert channels.now == 7
        """,
        test_with_markers="""
        import pytest

        pytestmark = pytest.mark.channels(refute_timeout=1)

        def test_the_module_marker_overrides_the_ini(channels):
            channels.refute_push()
            assert channels.now == 1
            assert channels.settings.assert_timeout == 3  # the marker leaves other ini options alone

        @pytest.mark.channels(refute_timeout=4)
        def test_a_function_marker_overrides_the_module_marker(channels):
            channels.refute_push()
            assert channels.now == 4

        @pytest.mark.channels(refute_timeout=2)
        class TestAClassMarker:
            def test_it_overrides_the_module_marker(self, channels):
                channels.refute_push()
                assert channels.now == 2

            @pytest.mark.channels(refute_timeout=5)
            def test_a_function_marker_overrides_it(self, channels):
                channels.refute_push()
                assert channels.now == 5

            @pytest.mark.channels(assert_timeout=6)
            def test_markers_for_different_settings_combine(self, channels):
                assert channels.settings.assert_timeout == 6
                assert channels.settings.refute_timeout == 2
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=6)


def test_the_channels_marker_sets_every_setting(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import datetime as dt
        import pytest
        from pytest_channels.testing import Settings

        @pytest.mark.channels(
            assert_timeout=3,
            refute_timeout=0.5,
            idle_timeout=9,
            freeze_time=False,
            wall_start=dt.datetime(2030, 5, 1, 12, tzinfo=dt.UTC),
            check_payloads=False,
        )
        def test_every_setting_comes_from_the_marker(channels):
            assert channels.settings == Settings(
                assert_timeout=3,
                refute_timeout=0.5,
                idle_timeout=9,
                freeze_time=False,
                wall_start=dt.datetime(2030, 5, 1, 12, tzinfo=dt.UTC),
                check_payloads=False,
            )
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "channels_assert_timeout = soon",
            "ini: channels_assert_timeout must be a number of seconds (got 'soon')",
        ),
        (
            "channels_refute_timeout = -1",
            "ini: channels_refute_timeout must be a finite number of seconds >= 0 (got -1.0)",
        ),
        (
            "channels_idle_timeout = inf",
            "ini: channels_idle_timeout must be a finite number of seconds >= 0 (got inf)",
        ),
        (
            "channels_freeze_time = maybe",
            "ini: channels_freeze_time must be true or false (got 'maybe')",
        ),
        (
            "channels_wall_start = yesterday",
            "ini: channels_wall_start must be an ISO 8601 datetime such as 2024-01-01T00:00:00Z (got 'yesterday')",
        ),
        (
            "channels_check_payloads = 2",
            "ini: channels_check_payloads must be true or false (got '2')",
        ),
    ],
    ids=["not a number", "negative", "infinite", "not a bool", "not a datetime", "a number for a bool"],
)
def test_error_when_an_ini_option_is_invalid(
    pytester: pytest.Pytester, make_ini: MakeIni, option: str, message: str
) -> None:
    make_ini(option)
    pytester.makepyfile("def test_never_runs(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    result.stdout.no_fnmatch_line("*test_never_runs*")


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            "@pytest.mark.channels(0.5)",
            "@pytest.mark.channels takes keyword arguments only",
        ),
        (
            "@pytest.mark.channels(asert_timeout=1)",
            "@pytest.mark.channels: unknown setting 'asert_timeout'. Valid settings: "
            "assert_timeout, check_payloads, freeze_monotonic, freeze_time, idle_timeout, io_grace, max_time, "
            "ms_timeout_warning, refute_timeout, strict_mailbox, virtual_loop, wall_start, wire",
        ),
        (
            "@pytest.mark.channels(refute_timeout=-0.5)",
            "@pytest.mark.channels: refute_timeout must be a finite number of seconds >= 0 (got -0.5)",
        ),
        (
            "@pytest.mark.channels(assert_timeout=True)",
            "@pytest.mark.channels: assert_timeout must be a finite number of seconds >= 0 (got True)",
        ),
        (
            '@pytest.mark.channels(freeze_time="maybe")',
            "@pytest.mark.channels: freeze_time must be true or false (got 'maybe')",
        ),
        (
            "@pytest.mark.channels(wall_start=1704067200)",
            "@pytest.mark.channels: wall_start must be a datetime or an ISO 8601 string (got 1704067200)",
        ),
    ],
    ids=["positional", "misspelt", "negative", "a bool for a number", "not a bool", "a timestamp for a datetime"],
)
def test_error_when_a_channels_marker_argument_is_invalid(pytester: pytest.Pytester, marker: str, message: str) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        {marker}
        def test_marked(channels):
            pass

        def test_unmarked(channels):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    # A plain failure naming the marker, without the fixture machinery's traceback.
    result.stdout.fnmatch_lines(["*ERROR at setup of test_marked*", message])
    result.stdout.no_fnmatch_line("*plugin.py*")
    result.stdout.no_fnmatch_line("During handling of the above exception*")


def test_channels_idle_timeout_also_guards_async_tests_on_asyncio_and_trio(
    pytester: pytest.Pytester, make_ini: MakeIni
) -> None:
    # As above, the join is all the guard's window holds. Were the guard broken, the inner test
    # would hang, and the suite's own per-test limit (pytest-timeout) would end it.
    make_ini("channels_idle_timeout = 0.01")
    pytester.makepyfile(
        """
        import pytest
        from sample_channels import HangOnJoin

        @pytest.mark.anyio
        async def test_a_join_that_awaits_forever(channels):
            await channels.join(channels.socket(), "room:1", channel=HangOnJoin)
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*test_a_join_that_awaits_forever[[]asyncio[]]*",
            "E *NotIdle: the channels were still busy after 0.01s of real time:",
            "E *  - HangOnJoin (topic 'room:1') in join",
            "*test_a_join_that_awaits_forever[[]trio[]]*",
            "E *NotIdle: the channels were still busy after 0.01s of real time:",
            "E *  - HangOnJoin (topic 'room:1') in join",
        ]
    )
