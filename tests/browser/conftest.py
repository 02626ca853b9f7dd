"""Real Chromium (Debian's, never a downloaded one) driven by Playwright."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from inprocess import InProcess
from playwright.async_api import Browser, BrowserContext, Page, WebSocket, async_playwright

from tablecast.service.views import Views

CHROMIUM = "/usr/bin/chromium"
# No sandbox as root; no background traffic (this machine has no network beyond loopback).
ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is not installed: `make test` installs Debian's chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=ARGS, chromium_sandbox=False
        )
        yield browser
        await browser.close()


OpenPage = Callable[..., Awaitable[Page]]


@pytest.fixture
async def open_page(browser: Browser) -> AsyncIterator[OpenPage]:
    """Pages in their own browser contexts (separate people), failing the test on any
    JavaScript error."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    async def open_(url: str, **context_options: object) -> Page:
        context = await browser.new_context(**context_options)  # type: ignore[arg-type]
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        _tell_what_it_does(page, f"page {len(contexts)}")
        await page.goto(url)
        return page

    yield open_
    for context in contexts:
        await context.close()
    assert not errors, errors


def _tell_what_it_does(page: Page, name: str) -> None:
    """The page's requests, their ends, its WebSockets and its console, on stdout: pytest
    shows them for a test that failed (a page that never showed its table: which request of
    its never came back?)."""

    def say(*what: object) -> None:
        print(f"{time.strftime('%H:%M:%S')} {name}:", *what)

    def websocket(ws: WebSocket) -> None:
        say("websocket", ws.url)
        ws.on("close", lambda _: say("websocket closed", ws.url))

    page.on("request", lambda request: say(request.method, request.url))
    page.on("requestfinished", lambda request: say("done", request.url))
    page.on("requestfailed", lambda request: say("failed", request.url, request.failure))
    page.on("websocket", websocket)
    page.on("console", lambda message: say("console", message.type, message.text))


@pytest.fixture
async def in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[InProcess]:
    """The server the ``server`` fixture starts (support.InProcessServer), with a hold on its
    views thread: serve() makes its own Views, which the test finds by recording the one made
    (the real one, and its thread)."""
    made: list[Views] = []
    init = Views.__init__

    def recording(self: Views, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(Views, "__init__", recording)
    server = InProcess(tmp_path / "data", "--port", "0")
    server.start()
    try:
        assert made, "the server made no Views"
        server.views = made[0]
        yield server
    finally:
        server._release.set()  # whatever happened, nothing stays held
        await asyncio.to_thread(server.stop)  # while this loop runs, as server_factory does
    problems = server.logged(r"Traceback| ERROR ")
    assert not problems, "".join(server.log[-60:])
