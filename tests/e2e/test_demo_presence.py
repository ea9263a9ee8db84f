"""The demo page's online list in headless Chromium: the official client's Presence, as a user sees it."""

from __future__ import annotations

import asyncio

import pytest
import server
from e2e_chromium import Page, open_page, require_browser
from e2e_servers import raw_client, serve_uvicorn

pytestmark = pytest.mark.asyncio  # the DevTools client runs on asyncio

PAGE_TIMEOUT = 15.0
"""Real seconds the page may take to show a change."""


async def _online_becomes(page: Page, expected: str) -> bool:
    shown = None
    async with asyncio.timeout(PAGE_TIMEOUT):
        while shown != expected:
            await asyncio.sleep(0.05)  # real-time: the page talks to a real server
            shown = await page.evaluate("document.getElementById('online')?.textContent")
    return True


async def test_the_demo_page_shows_who_is_online_as_others_come_and_go(monkeypatch: pytest.MonkeyPatch) -> None:
    require_browser(server.PHOENIX_JS)
    monkeypatch.setenv("SECRET_KEY_BASE", "the demo's secret, twenty chars or more")
    app = server.make_app()
    with serve_uvicorn(app) as address:
        async with open_page(f"http://{address}/?user=ada") as page:
            assert await _online_becomes(page, "Ada Lovelace (1)")
            # Grace joins from another client (a hand-written one, on the same room): the page's list grows.
            async with raw_client(address, "/rooms", "vsn=2.0.0&user=grace") as grace:
                await grace.join("room:demo", {"device": "script"})
                assert await _online_becomes(page, "Ada Lovelace (1), Grace Hopper (1)")
            # Her connection closed: her channel left, and the page hears of it.
            assert await _online_becomes(page, "Ada Lovelace (1)")
