"""The demo page (examples/server.py) in headless Chromium, with the official client, checked by what it shows."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import server
from e2e_app import without_websockets
from e2e_chromium import open_page, require_browser
from e2e_servers import serve_uvicorn
from hello_sockets import dedupe_channel, recurring_channel

pytestmark = pytest.mark.asyncio  # the DevTools client runs on asyncio

PAGE_TIMEOUT = 15.0
"""Real seconds the page may take to show everything."""

SHOWN = """JSON.stringify(Object.fromEntries(
  ["socket", "transport", "ping", "dupe", "tokens", "last-token"]
    .map((id) => [id, document.getElementById(id).textContent])
))"""


@pytest.fixture
def chromium() -> None:
    require_browser(server.PHOENIX_JS)


@pytest.mark.parametrize("websockets", ["allowed", "blocked"])
async def test_the_demo_page_shows_pong_the_deduplicated_numbers_and_fresh_tokens(
    chromium: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, websockets: str
) -> None:
    # Real time in the browser: the chapter's 1 s and 5 s would only slow the test down.
    monkeypatch.setattr(dedupe_channel, "FLUSH_AFTER", 0.2)
    monkeypatch.setattr(recurring_channel, "SEND_AFTER", 0.2)
    monkeypatch.setenv("SECRET_KEY_BASE", "the demo's secret, twenty chars or more")
    app = server.make_app()
    with serve_uvicorn(app if websockets == "allowed" else without_websockets(app)) as address:
        async with open_page(f"http://{address}/") as page:
            shown: dict[str, Any] = {}
            async with asyncio.timeout(PAGE_TIMEOUT):
                while not (shown.get("dupe") == "1, 2, 3" and int(shown.get("tokens") or 0) >= 2):
                    await asyncio.sleep(0.05)  # real-time: the page talks to a real server
                    raw = await page.evaluate(SHOWN)  # None until the page has loaded
                    shown = json.loads(raw) if raw else {}
            await page.screenshot(tmp_path / "demo.png")
    assert shown["socket"] == "connected"
    assert shown["transport"] == {"allowed": "websocket", "blocked": "longpoll"}[websockets]
    assert shown["ping"] == "pong"
    assert shown["dupe"] == "1, 2, 3"
    assert app.runtime.tokens.verify("salt identifier", shown["last-token"], max_age=60) == 1
    assert (tmp_path / "demo.png").stat().st_size > 1000
