"""What the browser tests do on the app's pages, and a table they share."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Locator, Page, expect


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


async def upload(page: Page, path: Path) -> None:
    await page.set_input_files("#file", str(path))


async def edit_key(page: Page) -> str:
    """The edit key the app keeps for the document it shows (the creator's, or an edit link's).
    A new table's page becomes its share link once the upload is done, which may come a moment
    after its first rows show."""
    await page.wait_for_url(re.compile(r"/parser/share/[0-9a-f-]+"))
    document_id = page.url.split("#", 1)[0].rsplit("/", 1)[1]
    key = await page.evaluate(f"localStorage.getItem('tablecast:edit-key:{document_id}')")
    assert key
    return str(key)


PEOPLE = (
    b"name\tcity\tamount\twhen\n"
    b"Ada\tParis\t1,200\t2024-03-01\n"
    b"grace\tOslo\t-5\t2023-01-15\n"
    b"Alan\tparis\t30.5\t\n"
    b"Edsger\tLima\t\t2025-07-04\n"
    b"ada\tLima\t1,200\t2024-03-01\n"
)


def names(page: Page) -> Locator:
    """The name column's cells: expect() them, which waits for the page that shows them."""
    return page.locator("#table tbody tr td:nth-child(2)")


async def two_editors(open_page, server, tmp_path: Path) -> tuple[Page, Page]:
    first = await open_page(f"{server.url}/parser/")
    await upload(first, write(tmp_path / "people.tsv", PEOPLE))
    await expect(first.locator("#range")).to_have_text("Rows 1–5 of 5")
    second = await open_page(f"{first.url}#key={await edit_key(first)}")
    await expect(second.locator("#range")).to_have_text("Rows 1–5 of 5")
    return first, second
