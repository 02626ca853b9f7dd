"""Sorting, searching, versions and downloads in the browser app, in real Chromium."""

from __future__ import annotations

import asyncio
import io
import re
import urllib.request
from urllib.parse import parse_qs, urlsplit

import openpyxl
from playwright.async_api import expect

from pages import PEOPLE, edit_key, names, two_editors, upload, write
from support import http, many_versions, meta, put, write_version
from tablecast.store.sqlite import SQLiteStore


async def test_sorting_and_searching_in_follow_mode_moves_everyone(server, open_page, tmp_path):
    first, second = await two_editors(open_page, server, tmp_path)
    # numbers are aligned by the column's inferred type
    amount = first.locator("#table tbody td:nth-child(4)").first
    await expect(amount).to_have_class(re.compile(r"\bnum\b"))

    await first.get_by_role("button", name="Sort by amount").click()
    for page in (first, second):
        await expect(page.locator("#table tbody tr:first-child td").first).to_have_text("grace")
        await expect(names(page)).to_have_text(["grace", "Alan", "Ada", "ada", "Edsger"])
        # what the group looks at, and who set it, is said over the table
        await expect(page.locator("#group-view")).to_contain_text(
            "Following the group's view: sorted by amount ▲"
        )
    await expect(first.locator("#group-view")).to_contain_text("set by you")
    await expect(second.locator("#group-view")).to_contain_text("set by Guest ")
    # each row keeps its number in the file
    rows = await second.locator("#table tbody th.rownum").all_inner_texts()
    assert rows == ["2", "3", "1", "5", "4"]
    await first.get_by_role("button", name="Sort by amount").click()  # again: descending
    await expect(second.locator("#group-view")).to_contain_text("sorted by amount ▼")
    await expect(names(second).nth(0)).to_have_text("Ada")
    await expect(names(second).nth(1)).to_have_text("ada")

    # the other one searches: both see the same matching rows
    await second.get_by_label("Search all cells").fill("PARIS")
    for page in (first, second):
        await expect(page.locator("#range")).to_have_text("Rows 1–2 of 2 matching")
        await expect(names(page)).to_have_text(["Ada", "Alan"])
        await expect(page.get_by_label("Search all cells")).to_have_value("PARIS")
    # a column filter narrows it further, for both
    await first.get_by_label("Filter name").fill("al")
    await expect(second.locator("#range")).to_have_text("Rows 1–1 of 1 matching")
    await expect(names(second)).to_have_text(["Alan"])
    await expect(second.get_by_label("Filter name")).to_have_value("al")

    # downloads take the view along
    href = await second.locator("#download-csv").get_attribute("href")
    query = parse_qs(urlsplit(href or "").query)
    assert query == {"sort": ["2"], "order": ["desc"], "q": ["PARIS"], "filter.0": ["al"],
                     "format": ["csv"]}  # fmt: skip
    status, text, _ = http("GET", f"{server.url}{href}")
    assert status == 200 and text.splitlines()[1].startswith('"Alan",')  # every cell quoted
    workbook = await second.locator("#download-xlsx").get_attribute("href")
    assert parse_qs(urlsplit(workbook or "").query)["format"] == ["xlsx"]
    with urllib.request.urlopen(f"{server.url}{workbook}", timeout=30) as response:
        sheet = openpyxl.load_workbook(io.BytesIO(response.read())).active
    assert [row[0] for row in sheet.iter_rows(values_only=True)] == ["name", "Alan"]
    original = await second.locator("#download-original").get_attribute("href")
    assert http("GET", f"{server.url}{original}")[1] == PEOPLE.decode()  # as uploaded

    await second.get_by_role("button", name="Clear for everyone").click()
    await expect(first.locator("#range")).to_have_text("Rows 1–5 of 5")
    await expect(names(first)).to_have_text(["Ada", "grace", "Alan", "Edsger", "ada"])


async def test_on_ones_own_the_view_is_private(server, open_page, tmp_path):
    first = await open_page(f"{server.url}/parser/")
    await upload(first, write(tmp_path / "people.tsv", PEOPLE))
    await expect(first.locator("#range")).to_have_text("Rows 1–5 of 5")
    viewer = await open_page(first.url)  # a view link
    await expect(viewer.locator("#range")).to_have_text("Rows 1–5 of 5")
    await viewer.get_by_role("button", name="Sort by name").click()
    await expect(viewer.get_by_text("Browsing on your own")).to_be_visible()
    await expect(names(viewer)).to_have_text(["Ada", "ada", "Alan", "Edsger", "grace"])
    await asyncio.sleep(0.3)
    assert await names(first).all_inner_texts() == ["Ada", "grace", "Alan", "Edsger", "ada"]
    # the header switch is a view too
    await viewer.get_by_label("First row is the header").uncheck()
    await expect(viewer.locator("#range")).to_have_text("Rows 1–6 of 6")  # nothing searched
    assert "name" in await names(viewer).all_inner_texts()


async def test_versions_open_read_only_and_restore(server, open_page, tmp_path):
    first, second = await two_editors(open_page, server, tmp_path)
    doc = {"id": first.url.rsplit("/", 1)[1], "edit_key": await edit_key(first)}
    assert put(server.url, doc, b"name\nonly one\n", "?name=short.tsv")[0] == 200
    await expect(second.locator("#version")).to_have_text("version 2")

    await second.get_by_role("button", name="Versions").click()
    items = second.locator("#versions-list li")
    await expect(items).to_have_count(2)
    await expect(items.first).to_contain_text("short.tsv")
    await expect(items.nth(1)).to_contain_text("people.tsv · 5 rows")
    await items.nth(1).get_by_role("button", name="Open").click()
    await expect(second.locator("#old-banner")).to_contain_text("Viewing version 1, read-only")
    await expect(second.locator("#range")).to_have_text("Rows 1–5 of 5")
    await second.get_by_role("button", name="Sort by when").click()  # browsing it sorts too
    await expect(names(second).first).to_have_text("grace")
    await expect(first.locator("#range")).to_have_text("Rows 1–1 of 1")  # nobody else moved

    await items.nth(1).get_by_role("button", name="Restore").click()
    for page in (first, second):
        await expect(page.locator("#version")).to_have_text("version 3")
        await expect(page.locator("#range")).to_have_text("Rows 1–5 of 5")
    await expect(second.locator("#old-banner")).to_be_hidden()
    await expect(items).to_have_count(3)


async def test_the_versions_panel_lists_a_page_at_a_time(server_factory, open_page, tmp_path):
    """300 versions: the panel shows the newest 50 and fetches older ones when asked, so it
    stays a few hundred elements (listed whole, 20,000 versions made 120,000); a version
    landing while it is open comes on top, and what was fetched stays."""
    data = tmp_path / "data"
    store = SQLiteStore(data / "tablecast.sqlite3")
    document = store.create_document(None)  # no key: anyone may edit
    many_versions(store, document.id, 299)
    store.commit_version(write_version(store, document.id, 10), meta(10, "newest.tsv"))
    store.close()
    server = server_factory(data_dir=data)
    page = await open_page(f"{server.url}/parser/share/{document.id}")
    await expect(page.locator("#version")).to_have_text("version 300")

    await page.get_by_role("button", name="Versions").click()
    # (made within a minute, the versions before the current one are one burst: its entry
    # holds them, each an item all the same)
    items = page.locator("#versions-list li[data-version]")
    await expect(items).to_have_count(50)
    await expect(items.first).to_contain_text("Version 300")
    await expect(items.first.locator(".badge")).to_have_text("current")
    await expect(items.last).to_contain_text("Version 251")
    panel = "document.querySelectorAll('#versions *').length"
    # li, title, detail, 3-4 controls; the burst's entry, its summary and list
    assert await page.evaluate(panel) <= 50 * 8 + 10

    older = page.get_by_role("button", name="Show older versions")
    await older.click()
    await expect(items).to_have_count(100)
    await expect(items.nth(50)).to_contain_text("Version 250")
    await expect(items.last).to_contain_text("Version 201")
    assert await page.evaluate(panel) <= 100 * 8 + 10

    # someone uploads while the panel is open: on top, current; the older pages stay
    url = f"{server.url}/parser/api/docs/{document.id}?name=later.tsv"
    assert http("PUT", url, b"name\nonly one\n")[0] == 200
    await expect(items).to_have_count(101)
    await expect(items.first).to_contain_text("Version 301")
    await expect(items.first).to_contain_text("later.tsv")
    await expect(items.first.locator(".badge")).to_have_text("current")
    await expect(items.nth(1).locator(".badge")).to_have_count(0)
    await expect(items.last).to_contain_text("Version 201")

    for shown in (150, 200, 250, 300):
        await older.click()
        await expect(items).to_have_count(shown + 1)
    await expect(items.last).to_contain_text("Version 1 ")
    await expect(older).to_be_hidden()  # version 1 is listed: nothing older
    numbers = await page.eval_on_selector_all(
        "#versions-list li[data-version]", "items => items.map(li => Number(li.dataset.version))"
    )
    assert numbers == list(range(301, 0, -1))  # each once, newest first


async def test_what_changed_since_one_last_looked_and_between_versions(server, open_page):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=people.tsv", PEOPLE)
    link = doc["url"]
    page = await open_page(link)
    await expect(page.locator("#range")).to_have_text("Rows 1–5 of 5")
    # a version that comes while one looks is seen: nothing to say of it afterwards
    second = PEOPLE.replace(b"Alan\tparis", b"Alan\tLondon") + b"Barbara\tBoston\t7\t\n"
    assert put(server.url, doc, second)[0] == 200
    await expect(page.locator("#version")).to_have_text("version 2")
    await page.goto("about:blank")
    # one that comes while one is away is said when one comes back, and shown on asking
    third = second.replace(b"Edsger\tLima\t\t2025-07-04\n", b"")
    assert put(server.url, doc, third)[0] == 200
    await page.goto(link)
    since = page.locator("#since")
    await expect(since).to_contain_text("Since you last looked (version 2, now 3): 1 row removed.")
    await since.get_by_role("button", name="Show the changes").click()
    panel = page.locator("#changes")
    await expect(panel.locator("#changes-title")).to_have_text(
        "Version 2 → version 3: 1 row removed"
    )
    await expect(panel.locator("tbody tr.removed")).to_have_text(
        re.compile(r"Row 4 removed \(of version 2\)\s*Edsger\s*Lima")
    )
    await expect(since).to_be_hidden()
    await page.reload()  # seen now
    await expect(page.locator("#version")).to_have_text("version 3")
    await asyncio.sleep(0.3)
    await expect(since).to_be_hidden()

    # any version's changes from the one before it, from the versions panel, stepped through
    await page.get_by_role("button", name="Versions").click()
    items = page.locator("#versions-list li")
    await expect(items).to_have_count(3)
    await expect(items.nth(2).get_by_role("button", name="Changes")).to_have_count(0)
    await items.nth(1).get_by_role("button", name="Changes").click()
    await expect(panel.locator("#changes-title")).to_have_text(
        "Version 1 → version 2: 1 row added, 1 changed"
    )
    changed = panel.locator("tbody tr.changed")
    await expect(changed.locator("td.changed-cell del")).to_have_text("paris")
    await expect(changed.locator("td.changed-cell ins")).to_have_text("London")
    await expect(changed).to_have_class(re.compile(r"\bcurrent\b"))  # the first change
    await expect(page.locator("#changes-position")).to_have_text("1 of 2")
    await page.get_by_role("button", name="Next change").click()
    await expect(panel.locator("tbody tr.added")).to_have_class(re.compile(r"\bcurrent\b"))
    await expect(panel.locator("tbody tr.added")).to_contain_text("Barbara")
    await expect(page.get_by_role("button", name="Next change")).to_be_disabled()
    await page.get_by_role("button", name="Close the changes").click()
    await expect(panel).to_be_hidden()
