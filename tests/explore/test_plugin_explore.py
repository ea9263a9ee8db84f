"""The explorer through pytest: found, shrunk, printed, replayed; hypothesis's options; async; xdist; bad input."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest

# The inner sessions are as strict as ours: warnings are errors. And hypothesis searches from a
# fixed seed, as its "ci" profile does under CI=true: the figures these tests pin (shrunk to
# one drop, found in so many runs) must not depend on which seed a run happened to draw.
INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
addopts = --hypothesis-seed=0
filterwarnings =
    error
"""


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    return pytester


APP = """
from pytest_channels import Channel, SocketHandler, ok, route


class FeedChannel(Channel):
    def join(self, topic, payload, socket):
        return ok(socket)


class FeedSocket(SocketHandler):
    channels = (route("feed", FeedChannel),)
"""

AT_MOST_ONCE = """
from app import FeedSocket
from pytest_channels.explore import explore


@explore(horizon=2{options})
def test_every_message_arrives(channels):
    cluster = channels.cluster("server", "remote")
    client = channels.client(FeedSocket, node="server")
    client.connect()
    room = client.channel("feed")
    room.join()
    channels.settle()
    for n in range(20):
        cluster["remote"].runtime.broadcast("feed", "msg", {{"id": n}})
        channels.advance(0.1)
    channels.advance(1)
    assert [m.payload["id"] for m in room.messages] == list(range(20))
"""


def at_most_once(pytester: pytest.Pytester, options: str = "") -> None:
    pytester.makepyfile(app=APP, test_feed=AT_MOST_ONCE.format(options=options))


def passing(output: str) -> int:
    """Passing runs over every phase of hypothesis's statistics (an in-process database may add a reuse phase)."""
    return sum(int(n) for n in re.findall(r"(\d+) passing, \d+ failing", output))


def replay_string(output: str) -> str:
    found = re.search(r"--channels-replay=(pcx1:\S+)", output)
    assert found is not None, output
    return found.group(1)


def test_a_lost_message_is_found_shrunk_to_one_drop_and_printed_as_a_timeline(pytester: pytest.Pytester) -> None:
    at_most_once(pytester)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*explore: this schedule breaks the test (found after * run*, then shrunk):",
            "*seed 0, events at one instant in the order they were set, 1 fault:",
            "*  t=0.000s  every link  drop the next 1 packet",
            "*network: 20 packets sent, 19 delivered, 1 lost",
            "*  - lost: Packet(remote -> server, 'feed' 'msg', sent t=0.000s, dropped) {'id': 0}",
            "*client 1 on 'feed': joined, 19 message(s), the last 3: (states joining -> joined)",
            "*  - Push(topic='feed', event='msg', payload={'id': 17}, t=1.700s, origin='remote')",
            "*replay exactly:",
            '*  @explore(..., replay="pcx1:*")',
            "*  pytest 'test_feed.py::test_every_message_arrives' --channels-replay=pcx1:*",
        ]
    )


def test_the_replay_line_runs_that_one_schedule_again_exactly(pytester: pytest.Pytester) -> None:
    at_most_once(pytester)
    first = pytester.runpytest("-p", "no:randomly")
    text = replay_string(first.stdout.str())

    # In a process of its own: hypothesis's statistics belong to the process that prints them.
    again = pytester.runpytest_subprocess(
        "-p", "no:randomly", f"--channels-replay={text}", "--hypothesis-show-statistics"
    )
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*t=0.000s  every link  drop the next 1 packet", "*1 failing*"])
    again.stdout.no_fnmatch_line("*found after*")  # a replay runs, it does not search

    at_most_once(pytester, options=f', replay="{text}"')
    decorated = pytester.runpytest("-p", "no:randomly")
    decorated.assert_outcomes(failed=1)
    decorated.stdout.fnmatch_lines(["*lost: Packet(remote -> server, 'feed' 'msg', sent t=0.000s, dropped) {'id': 0}"])


def test_a_replay_string_for_another_test_fails_that_test_with_a_clear_message(pytester: pytest.Pytester) -> None:
    at_most_once(pytester)
    text = replay_string(pytester.runpytest("-p", "no:randomly").stdout.str())
    pytester.makepyfile(test_other=AT_MOST_ONCE.format(options="").replace("test_every", "test_other"))
    result = pytester.runpytest("-p", "no:randomly", "test_other.py", f"--channels-replay={text}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*ValueError: this replay string was made for test 'test_feed.test_every_message_arrives', not *"]
    )


def test_a_failure_is_kept_in_hypothesis_database_and_tried_first_next_time(pytester: pytest.Pytester) -> None:
    at_most_once(pytester)
    # Both in processes of their own: hypothesis's database and statistics belong to a process.
    # The default profile keeps a database; CI=true would pick hypothesis's "ci" profile, which has none.
    # And with no fixed seed: hypothesis saves nothing to its database for a seeded search.
    profile = ("--hypothesis-profile=default", "-o", "addopts=")
    pytester.runpytest_subprocess("-p", "no:randomly", *profile).assert_outcomes(failed=1)
    again = pytester.runpytest_subprocess("-p", "no:randomly", *profile, "--hypothesis-show-statistics")
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*during reuse phase*", "*0 passing, 1 failing*"])


def test_hypothesis_seed_makes_the_search_repeat(pytester: pytest.Pytester) -> None:
    at_most_once(pytester)
    outputs = []
    for _ in range(2):
        result = pytester.runpytest_subprocess("-p", "no:randomly", "--hypothesis-seed=7")  # no shared database
        result.assert_outcomes(failed=1)
        outputs.append(re.search(r"found after (\d+) run", result.stdout.str()))
        shutil.rmtree(pytester.path / ".hypothesis", ignore_errors=True)  # the seed alone repeats the search
    assert outputs[0] is not None
    assert outputs[1] is not None
    assert outputs[0].group(1) == outputs[1].group(1)


def test_an_at_least_once_body_passes_every_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ok="""
        from pytest_channels.explore import explore

        @explore(horizon=1)
        def test_local_broadcasts_never_cross_the_network(channels):
            cluster = channels.cluster("server", "remote")
            channels.subscribe("news", node="server")
            cluster["server"].runtime.local_broadcast("news", "flash", {})
            channels.advance(1)
            channels.assert_broadcast("flash")
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "--hypothesis-show-statistics")
    result.assert_outcomes(passed=1)
    assert passing(result.stdout.str()) == 100


def test_async_bodies_explore_on_asyncio_and_trio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(app=APP)
    pytester.makepyfile(
        test_async="""
        import pytest
        from app import FeedSocket
        from pytest_channels.explore import explore

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return request.param

        @pytest.mark.anyio
        @explore(horizon=1)
        async def test_every_message_arrives(channels):
            cluster = channels.cluster("server", "remote")
            channels.subscribe("feed", node="server")
            for n in range(10):
                cluster["remote"].runtime.broadcast("feed", "msg", {"id": n})
                await channels.advance(0.1)
            await channels.advance(1)
            for n in range(10):
                await channels.assert_broadcast("msg", {"id": n}, timeout=0)

        @pytest.mark.asyncio
        @explore(horizon=1, drops=False, partitions=False)
        async def test_delays_alone_lose_nothing(channels):
            cluster = channels.cluster("server", "remote")
            channels.subscribe("feed", node="server")
            cluster["remote"].runtime.broadcast("feed", "msg", {"id": 0})
            await channels.advance(2)
            await channels.assert_broadcast("msg", {"id": 0}, timeout=0)
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "-v")
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines_random(
        [
            "*test_every_message_arrives[[]asyncio[]] FAILED*",
            "*test_every_message_arrives[[]trio[]] FAILED*",
            "*test_delays_alone_lose_nothing PASSED*",
        ]
    )
    # Each failure is shrunk to the one drop; under CI=true hypothesis's "ci" profile prints more, not other faults.
    result.stdout.fnmatch_lines(["*, 1 fault:", "*t=0.000s  every link  drop the next 1 packet"] * 2)
    assert " faults:" not in result.stdout.str()


def test_explore_runs_under_xdist(pytester: pytest.Pytester) -> None:
    at_most_once(pytester)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-n", "2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*t=0.000s  every link  drop the next 1 packet"])


BAD = {
    "no_cluster": (
        """
        @explore()
        def test_it(channels):
            channels.advance(10)
        """,
        "*ExploreError: the test never started a cluster, so no fault could happen*",
    ),
    "before_horizon": (
        """
        @explore(horizon=5)
        def test_it(channels):
            channels.cluster("server", "remote")
            channels.advance(1)
        """,
        "*ExploreError: the test's checks ran at t=1.000s, before the explorer's horizon t=5.000s*",
    ),
    "unknown_node": (
        """
        @explore(stops=["thrid"])
        def test_it(channels):
            channels.cluster("server", "remote")
            channels.advance(10)
        """,
        "*UnknownNode: explore(...) names node 'thrid', but the test's cluster has 'server', 'remote'*",
    ),
    "no_channels": (
        """
        @explore()
        def test_it(cluster):
            pass
        """,
        "*TypeError: @explore's test test_it must take the `channels` argument*",
    ),
    "virtual_loop": (
        """
        import pytest

        @pytest.mark.channels(virtual_loop=True)
        @explore()
        def test_it(channels):
            channels.cluster("server", "remote")
            channels.advance(10)
        """,
        "*ExploreError: the fault explorer runs clusters on the harness's virtual clock, not on a virtual event loop*",
    ),
    "other_version": (
        """
        @explore(replay="pcx0:abc")
        def test_it(channels):
            pass
        """,
        "*ValueError: this replay string is not from this version of pytest-channels' explorer*",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gets_a_clear_error(pytester: pytest.Pytester, case: str) -> None:
    body, expected = BAD[case]
    pytester.makepyfile(test_bad="from pytest_channels.explore import explore\n" + textwrap.dedent(body))
    result = pytester.runpytest("-p", "no:randomly")
    assert result.ret != 0
    result.stdout.fnmatch_lines([expected])


def test_an_async_test_on_a_virtual_loop_is_told_only_that_the_explorer_refuses_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_async_loop="""
        import pytest
        from pytest_channels.explore import explore

        @pytest.mark.channels(virtual_loop=True)
        @pytest.mark.asyncio
        @explore(horizon=1)
        async def test_it(channels):
            channels.cluster("server", "remote")
            await channels.advance(2)
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*ExploreError: the fault explorer runs clusters on the harness's virtual clock*"])
    # The cluster's stepper must not trip over the group it served going away with the error.
    assert "AttributeError" not in result.stdout.str()


def test_a_body_that_is_not_deterministic_is_told_where_two_runs_first_differ(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_flaky="""
        import itertools
        from pytest_channels.explore import explore

        RUNS = itertools.count()

        @explore(horizon=1, replay=None)
        def test_it(channels):
            cluster = channels.cluster("server", "remote")
            channels.subscribe("news", node="server")
            cluster["remote"].runtime.broadcast("news", "n", {"run": next(RUNS)})  # state kept between runs
            channels.advance(2)
            assert False, "fails every time"
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*NotDeterministic: the test is not deterministic: two runs of the same schedule differ at entry *:"
            " the first run had",
            "*payload={'run': *",
            "*the second had",
        ]
    )


DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_chapters_at_most_once_app_loses_a_message_found_within_a_few_hundred_runs_and_shrunk_to_one_fault(
    pytester: pytest.Pytester,
) -> None:
    example = DOCS / "exploring_failures_example.py"
    result = pytester.runpytest("-p", "no:randomly", str(example), "--runxfail", "-k", "at_most_once")
    result.assert_outcomes(failed=1)
    found = re.search(r"found after (\d+) runs?, then shrunk", result.stdout.str())
    assert found is not None
    assert int(found.group(1)) <= 300
    timeline = re.search(r", 1 fault:\n.*?  t=\S+s  (.*)", result.stdout.str())
    assert timeline is not None
    assert re.search(r"drop the next 1 packet|partition \{", timeline.group(1))  # a single drop or partition


def test_hypothesis_settings_under_explore_apply_and_other_fixtures_are_shared_by_the_runs(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_settings="""
        import pytest
        from hypothesis import settings
        from pytest_channels.explore import explore

        RUNS = []

        @pytest.fixture(scope="module")  # a function-scoped one gets hypothesis's health check
        def shared():
            return []

        @explore(horizon=1)
        @settings(max_examples=7)
        def test_it(channels, shared):
            channels.cluster("server", "remote")
            channels.advance(1)
            shared.append(channels)
            RUNS.append(len(shared))

        def test_seven_runs_one_fixture_a_fresh_case_each():
            assert RUNS == [1, 2, 3, 4, 5, 6, 7]
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "--hypothesis-show-statistics")
    result.assert_outcomes(passed=2)
    assert passing(result.stdout.str()) == 7


def test_presence_converges_under_explored_faults_and_its_runs_are_deterministic(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_presence="""
        from hypothesis import settings
        from pytest_channels import Channel, Presence, noreply, ok
        from pytest_channels.explore import explore


        class Online(Presence):
            pass


        class Room(Channel):
            presence = Online

            def join(self, topic, payload, socket):
                self.send("after_join")
                return ok(socket.assign(user=payload["user"]))

            def handle_info(self, message, socket):
                self.presence.track(socket, socket.assigns["user"], {})
                return noreply(socket)


        @explore(horizon=4, crashes=["remote"])
        @settings(max_examples=25)
        def test_every_node_ends_with_the_same_presences(channels):
            cluster = channels.cluster("server", "remote")
            Online.start(cluster["server"].runtime)
            for user, node in (("alice", "server"), ("bob", "remote")):
                channels.join(channels.socket(node=node), "room", {"user": user}, channel=Room)
            # A drop armed within the horizon loses the next packets whenever they go: with Presence
            # alone on the network, heartbeats 15 s apart; wait for the lost ones and a down period.
            channels.advance(4 + 3 * 16.5 + 60)
            lists = [set(channels.presence_list(Online, "room", node=n)) for n in ("server", "remote")]
            assert lists[0] == lists[1]
            assert "alice" in lists[0]
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "--hypothesis-show-statistics")
    result.assert_outcomes(passed=1)
    assert passing(result.stdout.str()) == 25
