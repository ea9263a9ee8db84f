"""Headless Chromium (Debian's `chromium` package) driven over the DevTools protocol.

Only what the demo test needs: open a page, evaluate JavaScript in it, take a screenshot.
Every wait is bounded; the browser runs with a fresh profile and no background networking.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]
START_TIMEOUT = 20.0


def chromium_path() -> str | None:
    """The chromium binary, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_browser(phoenix_js: Path) -> None:
    """Skip the test unless chromium and the official client (`phoenix_js`) are installed; fail on CI."""
    missing = (
        "chromium is not installed (apt-get install chromium)"
        if chromium_path() is None
        else "the phoenix npm package is not installed (run `npm ci` at the repository root)"
        if not phoenix_js.exists()
        else None
    )
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing}: CI must run the browser test", pytrace=False)
        pytest.skip(missing)


class Page:
    """One tab, attached with a flat session."""

    def __init__(self, browser: ClientConnection, session: str) -> None:
        self._browser = browser
        self._session = session
        self._ids = itertools.count(1000)

    async def call(self, method: str, **params: Any) -> Any:
        return await _call(self._browser, self._ids, method, params, session=self._session)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def screenshot(self, path: Path) -> None:
        data = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(data["data"]))


async def _call(
    ws: ClientConnection, ids: itertools.count[int], method: str, params: dict[str, Any], session: str | None = None
) -> Any:
    message_id = next(ids)
    message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
    if session is not None:
        message["sessionId"] = session
    await ws.send(json.dumps(message))
    async with asyncio.timeout(START_TIMEOUT):
        while True:  # events arrive in between; each loop pass reads one message
            reply = json.loads(await ws.recv())
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})


@contextlib.asynccontextmanager
async def open_page(url: str) -> AsyncIterator[Page]:
    """Start a headless Chromium on a fresh profile, open `url` in it, and close it all at the end."""
    binary = chromium_path()
    assert binary is not None
    # Chromium's helper processes outlive the browser by a moment and may still write to the
    # profile while it is removed; they get the whole process group's signal, and a leftover
    # file in a temporary directory is not worth failing a test over.
    with tempfile.TemporaryDirectory(prefix="chromium-profile-", ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "HOME": profile},
            start_new_session=True,
        )
        try:
            endpoint = await _devtools_endpoint(Path(profile), process)
            async with connect(endpoint, max_size=None) as browser:
                ids = itertools.count(1)
                target = await _call(browser, ids, "Target.createTarget", {"url": url})
                attached = await _call(
                    browser, ids, "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
                )
                yield Page(browser, attached["sessionId"])
                with contextlib.suppress(Exception):
                    await _call(browser, ids, "Browser.close", {})
        finally:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(timeout=10)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


async def _devtools_endpoint(profile: Path, process: subprocess.Popen[bytes]) -> str:
    """Chromium writes its DevTools port and path to DevToolsActivePort once it listens."""
    active = profile / "DevToolsActivePort"
    for _ in range(int(START_TIMEOUT / 0.05)):
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with {process.returncode} before it listened")
        if active.exists():
            lines = active.read_text().split()
            if len(lines) >= 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        await asyncio.sleep(0.05)  # real-time: waiting for a browser process to start
    raise TimeoutError(f"chromium did not open its DevTools port within {START_TIMEOUT}s")
