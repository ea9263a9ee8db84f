"""The public surface: what __all__ promises is there, named by its public path, and nothing private leaks."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

import pytest_channels
import pytest_channels._exports
import pytest_channels.opentelemetry
import pytest_channels.redis
import pytest_channels.testing
import pytest_channels.testing._exports

PUBLIC = [pytest_channels, pytest_channels.testing, pytest_channels.redis, pytest_channels.opentelemetry]


@pytest.mark.parametrize("module", PUBLIC, ids=lambda m: m.__name__)
def test_all_is_a_tuple_of_unique_names_that_exist(module: types.ModuleType) -> None:
    assert isinstance(module.__all__, tuple)
    assert len(set(module.__all__)) == len(module.__all__)
    for name in module.__all__:
        assert hasattr(module, name), name


# The package loads its names from _exports on first use: that is where they are defined.
DEFINING = [
    pytest_channels._exports,
    pytest_channels.testing._exports,
    pytest_channels.redis,
    pytest_channels.opentelemetry,
]


@pytest.mark.parametrize(("module", "public"), list(zip(DEFINING, PUBLIC, strict=True)), ids=lambda m: m.__name__)
def test_every_public_class_and_function_is_exported(module: types.ModuleType, public: types.ModuleType) -> None:
    # What `_public.publish` gives the public module's name: every public class and function here.
    defined_here = {name for name, value in vars(module).items() if not name.startswith("_") and callable(value)}
    assert defined_here
    assert defined_here <= set(public.__all__)


@pytest.mark.parametrize("module", PUBLIC, ids=lambda m: m.__name__)
def test_public_objects_carry_their_public_module_name(module: types.ModuleType) -> None:
    for name in module.__all__:
        value = getattr(module, name)
        if isinstance(value, (type, types.FunctionType)):
            assert value.__module__ == module.__name__, name


def test_no_name_is_exported_twice_across_public_modules() -> None:
    names = [name for module in PUBLIC for name in module.__all__]
    assert len(names) == len(set(names))


def test_the_runtime_does_not_import_the_harness_or_pytest() -> None:
    code = (
        "import sys; from pytest_channels import *; "
        "print(sorted(m for m in sys.modules if m in ('pytest', 'pytest_channels.testing', 'freezegun')))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_importing_the_package_loads_no_runtime_until_a_public_name_is_used() -> None:
    code = (
        "import sys, pytest_channels\n"
        "before = sorted(m for m in sys.modules if m.startswith('pytest_channels.'))\n"
        "pytest_channels.Socket\n"
        "print(before, 'pytest_channels._runtime._socket' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[] True"


def test_a_name_that_is_not_public_fails_as_a_missing_attribute() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Sokcet'"):
        pytest_channels.Sokcet  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute '_socket_internals'"):
        pytest_channels._socket_internals  # type: ignore[attr-defined]  # noqa: B018


def test_runtime_classes_carry_their_public_name_whichever_module_loads_them_first() -> None:
    code = (
        "import pytest_channels._runtime._errors as e, pytest_channels.testing; "
        "pytest_channels.testing.ChannelCase; print(e.NotJoined.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "pytest_channels"


# The whole public surface, module by module. Adding or dropping a name is a decision about what
# users may import and what we must keep working for them: make it here, on purpose, and in
# docs/reference.md (every public name has a heading there; docs/reference_coverage_example.py checks).
SURFACE: dict[str, list[str]] = {
    "pytest_channels": [
        "Atom",
        "Broadcast",
        "BroadcastError",
        "BrokerUnreachable",
        "CallRef",
        "CallReplied",
        "CallResult",
        "CallTimeout",
        "Channel",
        "ChannelExited",
        "ChannelProcess",
        "ChannelsApp",
        "ChannelsError",
        "Close",
        "ConnectResult",
        "Drainer",
        "Error",
        "Exit",
        "FrameError",
        "InResult",
        "InfoResult",
        "InvalidReturn",
        "JoinResult",
        "LongPoll",
        "Message",
        "NoReply",
        "NodeStopped",
        "NotIdle",
        "NotJoined",
        "Ok",
        "PayloadError",
        "Presence",
        "PresenceError",
        "PubSub",
        "PubSubAdapter",
        "Push",
        "Reason",
        "RedactQuery",
        "Refused",
        "Replied",
        "Reply",
        "Route",
        "Runtime",
        "Socket",
        "SocketHandler",
        "SocketRef",
        "Stop",
        "Subscriber",
        "Timer",
        "TokenError",
        "Tokens",
        "Transport",
        "UnknownNode",
        "VirtualClock",
        "call_reply",
        "error",
        "install_redaction",
        "noreply",
        "ok",
        "reply",
        "route",
        "stop",
    ],
    "pytest_channels.testing": [
        "AsyncChannelCase",
        "CaseFactory",
        "ChannelCase",
        "ChannelCrashed",
        "Client",
        "ClientChannel",
        "ClientPresence",
        "Cluster",
        "Deadlock",
        "Distribution",
        "Exponential",
        "LooksLikeMilliseconds",
        "Network",
        "NeverAwaited",
        "Node",
        "Partial",
        "Settings",
        "Uniform",
        "VirtualTimeLimit",
        "VirtualTimeLoop",
        "Where",
        "real_clock",
        "sync_diff",
        "sync_state",
        "virtual_anyio_backend",
        "virtual_loop_factory",
    ],
    "pytest_channels.redis": ["RedisAdapter"],
    "pytest_channels.opentelemetry": ["instrument"],
    "pytest_channels.explore": [
        "Crash",
        "Delay",
        "Disconnect",
        "Drop",
        "ExploreError",
        "Faults",
        "NotDeterministic",
        "Partition",
        "Schedule",
        "Stop",
        "explore",
        "schedules",
    ],
}


@pytest.mark.parametrize("name", sorted(SURFACE))
def test_the_public_surface_is_exactly_the_names_decided(name: str) -> None:
    module = importlib.import_module(name)
    added = sorted(set(module.__all__) - set(SURFACE[name]))
    dropped = sorted(set(SURFACE[name]) - set(module.__all__))
    assert (added, dropped) == ([], []), (
        f"{name}.__all__ changed: added {added}, dropped {dropped}. If that is deliberate, update SURFACE in "
        "tests/test_public_api.py and the headings of docs/reference.md (public names have one, others none)."
    )


def test_the_plugin_loads_neither_the_harness_nor_the_runtime_at_start_up() -> None:
    # pytest imports the plugin at every start-up, `pytest --co` included (see benchmarks/startup.py).
    code = (
        "import sys, pytest_channels.plugin\n"
        "print(sorted(m for m in sys.modules if m.endswith(('._exports', '._core', '._runtime._runtime'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "name", "advice"),
    [
        (
            pytest_channels,
            "Cluster",
            r"^pytest_channels\.Cluster goes in the next release: import it from pytest_channels\.testing$",
        ),
        (pytest_channels, "Telemetry", r"no longer public \(reach it as `runtime.telemetry`\)"),
        (pytest_channels.testing, "Mailbox", r"pytest_channels.testing.Mailbox goes .* \(use `channels.mailbox`"),
    ],
)
def test_a_name_exported_before_0_2_still_works_for_a_release_and_says_where_it_went(
    module: types.ModuleType, name: str, advice: str
) -> None:
    with pytest.warns(DeprecationWarning, match=advice):
        value = getattr(module, name)
    assert value.__name__ == name
    assert name not in module.__all__


def test_every_former_name_is_gone_from_the_surface_and_still_defined_where_the_table_says() -> None:
    from pytest_channels import _public

    tables = (
        (_public.FORMER, pytest_channels),
        (_public.FORMER_TESTING, pytest_channels.testing),
        (_public.FORMER_REDIS, pytest_channels.redis),
    )
    for table, module in tables:
        for name, (defined_in, now, instead) in table.items():
            assert name not in module.__all__, name
            assert hasattr(importlib.import_module(defined_in), name), name
            assert (now and name in importlib.import_module(now).__all__) or instead, name
