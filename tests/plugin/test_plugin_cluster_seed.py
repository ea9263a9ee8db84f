"""A failing test with a cluster prints the network's seed, so the same run can be had again."""

from __future__ import annotations

import pytest

SEED_SECTION = [
    "*- channels cluster -*",
    "cluster seed 4242: repeat this run with channels.cluster(..., seed=4242)",
    "nodes: server, remote; network: drop 0.5 on every link; packets: 3 sent, 1 delivered, 2 lost, 0 in flight",
    "  - lost: Packet(remote -> server, 'news' 'flash', sent t=0.000s, dropped)",
    "  - lost: Packet(remote -> server, 'news' 'flash', sent t=0.000s, dropped)",
]


def test_a_failing_test_with_a_cluster_prints_its_seed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_lossy(channels):
            cluster = channels.cluster("server", "remote", seed=4242)
            channels.subscribe("news", node="server")
            cluster.network.drop(0.5)
            for n in range(3):
                cluster["remote"].runtime.broadcast("news", "flash", {"n": n})
            channels.settle()
            assert False, "the test's own assertion"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(SEED_SECTION, consecutive=True)


def test_a_random_seed_is_printed_when_none_was_given(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_lossy(channels):
            channels.cluster("server", "remote")
            channels.assert_push("never", timeout=1)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["cluster seed *: repeat this run with channels.cluster(..., seed=*)"])


def test_a_failure_at_teardown_prints_the_seed_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from sample_channels import RoomChannel

        def test_crash_seen_only_at_teardown(channels):
            channels.cluster("server", "remote", seed=9)
            socket = channels.join(channels.socket(node="remote"), "room:1", channel=RoomChannel).socket
            channels.push(socket, "boom")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ChannelCrashed: RoomChannel on 'room:1' crashed*", "*", "cluster seed 9: *"])


def test_a_passing_test_or_a_test_without_a_cluster_prints_no_seed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_passes(channels):
            channels.cluster("server", "remote", seed=1)

        def test_fails_alone(channels):
            channels.assert_push("never")
        """
    )
    result = pytester.runpytest("-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.no_fnmatch_line("*cluster seed*")
