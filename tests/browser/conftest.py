"""Real Chromium (Debian's, never a downloaded one) driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

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
        await page.goto(url)
        return page

    yield open_
    for context in contexts:
        await context.close()
    assert not errors, errors
