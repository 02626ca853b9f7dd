"""The app says what is going on (issue 15): a slow view change shows progress, a lost
connection is said over the table and a file dropped meanwhile uploads once the connection
and the edit key are back, viewers are offered only what they can do, a shared view is said
plainly with a way out, and the small things (names, titles, menus, words) are right."""

from __future__ import annotations

import asyncio
import io
import re
import zipfile

from inprocess import InProcess
from playwright.async_api import JSHandle, Page, expect

from pages import PEOPLE, edit_key, names, two_editors, upload, write
from support import put, table

SORTED_BY_AMOUNT = ["grace", "Alan", "Ada", "ada", "Edsger"]
FILE_ORDER = ["Ada", "grace", "Alan", "Edsger", "ada"]


async def types_known(page: Page) -> None:
    """The column types have come (and redrawn the table): a click lands on the last drawing."""
    await expect(page.get_by_role("button", name="Sort by amount")).to_have_attribute(
        "title", "Sort by amount (decimal)"
    )


async def file_transfer(page: Page, name: str, text: str) -> JSHandle:
    """What a person drags: one file, as the page's drag events carry it."""
    return await page.evaluate_handle(
        """([name, text]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name));
            return transfer;
        }""",
        [name, text],
    )


async def drop(page: Page, name: str, text: str) -> None:
    """A file dragged over the page and dropped, as a person does."""
    transfer = await file_transfer(page, name, text)
    await page.dispatch_event("main", "dragenter", {"dataTransfer": transfer})
    await page.dispatch_event("main", "drop", {"dataTransfer": transfer})


async def drag_over(page: Page) -> None:
    transfer = await file_transfer(page, "x.tsv", "a\tb\n1\t2\n")
    await page.dispatch_event("main", "dragenter", {"dataTransfer": transfer})


async def try_now(page: Page) -> None:
    """Reconnect at once rather than after the back-off: the banner's Try now, which may be
    gone already if the page came back by itself (then it does nothing)."""
    await page.evaluate("document.getElementById('reconnect').click()")


# Item 2: progress for a view change that has not answered within 200 ms


async def test_a_slow_sort_shows_progress_until_its_rows_come(in_process: InProcess, open_page):
    server = in_process
    page = await open_page(f"{server.url}/parser/")
    await page.set_input_files("#file", files=[{"name": "people.tsv", "mimeType": "text/plain",
                                                "buffer": PEOPLE}])  # fmt: skip
    await expect(page.locator("#range")).to_have_text("Rows 1–5 of 5")
    await types_known(page)
    busy = page.locator("#busy")
    await expect(busy).to_be_hidden()

    await server.hold_views()  # every sort waits behind this until released
    sort = page.get_by_role("button", name="Sort by amount")
    await sort.click()
    await expect(sort.locator(".arrow")).to_have_text("▲")  # the direction asked for, at once
    await expect(busy).to_be_visible()
    await expect(busy).to_have_text("Sorting by amount ▲…")
    await expect(page.locator("#table-wrap")).to_have_class(re.compile(r"\bbusy\b"))
    await expect(names(page)).to_have_text(FILE_ORDER)  # the old rows, dimmed, meanwhile

    await sort.click()  # a newer request replaces the one waiting
    await expect(sort.locator(".arrow")).to_have_text("▼")
    await expect(busy).to_have_text("Sorting by amount ▼…")

    await server.release_views()
    await expect(names(page)).to_have_text(["Ada", "ada", "Alan", "grace", "Edsger"])
    await expect(busy).to_be_hidden()
    await expect(page.locator("#table-wrap")).not_to_have_class(re.compile(r"\bbusy\b"))
    await expect(sort.locator(".arrow")).to_have_text("▼")

    # an old version, read over HTTP and sorted on one's own, says so as well
    doc = {"id": page.url.rsplit("/", 1)[1], "edit_key": await edit_key(page)}
    status, _, _ = await asyncio.to_thread(put, server.url, doc, b"name\nonly\n", "?name=b.tsv")
    assert status == 200
    await expect(page.locator("#version")).to_have_text("version 2")
    await page.get_by_role("button", name="Versions").click()
    await page.locator("#versions-list li").nth(1).get_by_role("button", name="Open").click()
    await expect(page.locator("#old-banner")).to_be_visible()
    await expect(names(page)).to_have_text(FILE_ORDER)
    await types_known(page)
    await server.hold_views()
    await page.get_by_role("button", name="Sort by name").click()
    await expect(busy).to_have_text("Sorting by name ▲…")
    await server.release_views()
    await expect(names(page)).to_have_text(["Ada", "ada", "Alan", "Edsger", "grace"])
    await expect(busy).to_be_hidden()


async def test_a_slow_search_of_ones_own_shows_progress(in_process: InProcess, open_page):
    server = in_process
    editor = await open_page(f"{server.url}/parser/")
    await editor.set_input_files("#file", files=[{"name": "people.tsv", "mimeType": "text/plain",
                                                  "buffer": PEOPLE}])  # fmt: skip
    await expect(editor.locator("#range")).to_have_text("Rows 1–5 of 5")
    viewer = await open_page(editor.url)  # a view link: its searches are its own
    await expect(viewer.locator("#range")).to_have_text("Rows 1–5 of 5")
    await types_known(viewer)

    await server.hold_views()
    await viewer.get_by_label("Search all cells").fill("lima")
    busy = viewer.locator("#busy")
    await expect(busy).to_have_text("Searching for “lima”…")
    await expect(viewer.locator("#table-wrap")).to_have_class(re.compile(r"\bbusy\b"))
    await server.release_views()
    await expect(viewer.locator("#range")).to_have_text("Rows 1–2 of 2 matching")
    await expect(busy).to_be_hidden()
    await expect(editor.locator("#busy")).to_be_hidden()  # nobody else waited


# Item 3: reconnecting


async def test_a_lost_connection_is_said_over_the_table_and_a_file_dropped_waits_for_it(
    server_factory, open_page, tmp_path
):
    server = server_factory()
    uploader = await open_page(f"{server.url}/parser/")
    await upload(uploader, write(tmp_path / "people.tsv", table(300)))
    await expect(uploader.locator("#range")).to_have_text("Rows 1–100 of 300")
    editor = await open_page(f"{uploader.url}#key={await edit_key(uploader)}")
    await expect(editor.locator("#range")).to_have_text("Rows 1–100 of 300")
    await expect(editor.locator("#offline")).to_be_hidden()

    assert server.stop() == 0
    banner = editor.locator("#offline")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("Connection lost.")
    # what needs the connection cannot be used until it is back
    for name in ("Next page", "Last page"):
        await expect(editor.get_by_role("button", name=name)).to_be_disabled()
    await expect(editor.locator("#page")).to_be_disabled()
    await expect(editor.get_by_label("Search all cells")).to_be_disabled()
    await expect(editor.get_by_role("button", name="Sort by c1")).to_be_disabled()
    await expect(editor.locator("#file")).to_be_disabled()

    # a file dropped meanwhile waits for the connection (and for the edit key to be checked
    # again: the hello after a reconnect says edit=false until then)
    await drop(editor, "later.tsv", "x\ty\n1\t2\n3\t4\n")
    await expect(editor.locator("#upload")).to_be_visible()
    await expect(editor.locator("#upload-detail")).to_contain_text("Waiting for the connection")
    # one upload at a time: a second file is not taken, and not in silence either
    await drop(editor, "another.tsv", "p\tq\n5\t6\n")
    await expect(editor.locator("#alert")).to_contain_text(
        "another.tsv was not uploaded: another file is on its way."
    )
    server_factory(data_dir=server.data_dir, port=server.port)
    await try_now(editor)
    for page in (editor, uploader):
        await expect(page.locator("#version")).to_have_text("version 2", timeout=20_000)
        await expect(page.locator("#range")).to_have_text("Rows 1–2 of 2")
    await expect(editor.locator("#alert")).to_be_hidden()
    await expect(editor.locator("#upload")).to_be_hidden()
    await expect(banner).to_be_hidden()
    await expect(editor.get_by_label("Search all cells")).to_be_enabled()
    await expect(editor.locator("#file")).to_be_enabled()


async def test_a_refusal_reads_as_sentences_and_one_row_is_one_row(server, open_page, tmp_path):
    page = await open_page(f"{server.url}/parser/")
    await upload(page, write(tmp_path / "one.tsv", b"a\tb\n1\t2\n"))
    await expect(page.locator("#range")).to_have_text("Rows 1–1 of 1")
    workbook = io.BytesIO()
    with zipfile.ZipFile(workbook, "w") as parts:
        parts.writestr("[Content_Types].xml", "<Types/>")
        parts.writestr("xl/workbook.xml", "<workbook/>")
    await upload(page, write(tmp_path / "sheet.xlsx", workbook.getvalue()))
    # the server's message ends bare: the app makes it a sentence before its own
    await expect(page.locator("#alert-text")).to_have_text(
        re.compile(
            r"^The workbook cannot be read \(.+\): open it in a spreadsheet and save it again\."
            r" The table is unchanged\.$"
        )
    )
    await page.get_by_role("button", name="Versions").click()
    await expect(page.locator("#versions-list li").first).to_contain_text("one.tsv · 1 row · ")


async def test_a_refusal_goes_once_a_newer_version_arrives(server, open_page, tmp_path):
    page = await open_page(f"{server.url}/parser/")
    await upload(page, write(tmp_path / "a.tsv", table(3)))
    await expect(page.locator("#range")).to_have_text("Rows 1–3 of 3")
    await upload(page, write(tmp_path / "photo.tsv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
    await expect(page.locator("#alert")).to_contain_text("does not look like a table")
    doc = {"id": page.url.rsplit("/", 1)[1], "edit_key": await edit_key(page)}
    assert put(server.url, doc, table(7), "?name=b.tsv")[0] == 200  # someone's newer version
    await expect(page.locator("#range")).to_have_text("Rows 1–7 of 7")
    await expect(page.locator("#alert")).to_be_hidden()


# Item 4: viewers are offered only what they can do


async def test_a_view_link_is_not_offered_drops(server, open_page, tmp_path):
    editor = await open_page(f"{server.url}/parser/")
    await upload(editor, write(tmp_path / "a.tsv", table(3)))
    await expect(editor.locator("#range")).to_have_text("Rows 1–3 of 3")
    viewer = await open_page(editor.url)
    await expect(viewer.locator("#read-only")).to_be_visible()

    await drag_over(viewer)
    await expect(viewer.locator("#drop")).to_be_hidden()
    await drop(viewer, "x.tsv", "a\tb\n1\t2\n")
    await expect(viewer.locator("#upload")).to_be_hidden()
    await expect(viewer.locator("#alert")).to_be_hidden()  # nothing offered, nothing refused
    await drag_over(editor)  # an editor still may
    await expect(editor.locator("#drop")).to_be_visible()
    await expect(editor.locator("#drop")).to_have_text("Drop to upload")


async def test_links_are_offered_once_there_is_a_table_to_share(server, open_page, tmp_path):
    page = await open_page(f"{server.url}/parser/")
    await upload(page, write(tmp_path / "photo.tsv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
    await expect(page.locator("#alert")).to_contain_text("does not look like a table")
    await expect(page.locator("#empty")).to_be_visible()  # still: choose a file
    await expect(page.locator("#status")).to_have_text(re.compile("Live"))
    await expect(page.locator("#copy-link")).to_be_hidden()
    await expect(page.locator("#copy-edit-link")).to_be_hidden()
    await upload(page, write(tmp_path / "a.tsv", table(3)))
    await expect(page.locator("#range")).to_have_text("Rows 1–3 of 3")
    await expect(page.locator("#copy-link")).to_be_visible()
    await expect(page.locator("#copy-edit-link")).to_be_visible()


# Item 5: the group's view, said plainly, with a way out


async def test_a_visitor_sees_what_the_group_looks_at_and_can_browse_the_whole_table(
    server, open_page, tmp_path
):
    editor = await open_page(f"{server.url}/parser/")
    await upload(editor, write(tmp_path / "people.tsv", PEOPLE))
    await expect(editor.locator("#range")).to_have_text("Rows 1–5 of 5")
    await editor.get_by_label("Search all cells").fill("zzz")  # the group's view: no rows
    await expect(editor.locator("#range")).to_have_text("No matching rows")
    name = await editor.evaluate("localStorage.getItem('tablecast:name')")

    visitor = await open_page(editor.url)
    await expect(visitor.locator("#range")).to_have_text("No matching rows")
    group = visitor.locator("#group-view")
    await expect(group.locator("#group-view-text")).to_have_text(
        f"Following the group's view: matching “zzz” — set by {name}."
    )
    await visitor.get_by_role("button", name="Browse the whole table on your own").click()
    await expect(visitor.locator("#range")).to_have_text("Rows 1–5 of 5")
    await expect(names(visitor)).to_have_text(FILE_ORDER)
    await expect(visitor.get_by_text("Browsing on your own")).to_be_visible()
    await expect(group).to_be_hidden()
    await expect(visitor.locator("#view-note")).to_have_text("")
    await expect(editor.locator("#range")).to_have_text("No matching rows")  # theirs stays


# Item 6: ragged rows, counted


async def test_ragged_rows_are_counted_near_the_table_info(server, open_page, tmp_path):
    """Needs the server's ``ragged_rows`` (page messages, issue 15 item 6)."""
    page = await open_page(f"{server.url}/parser/")
    await upload(page, write(tmp_path / "ragged.tsv", b"a\tb\n1\t2\n3\n4\t5\t6\n7\t8\n"))
    await expect(page.locator("#range")).to_have_text("Rows 1–4 of 4")
    await expect(page.locator("#ragged")).to_have_text(
        "2 rows have more or fewer cells than the header"
    )
    await upload(page, write(tmp_path / "one.tsv", b"a\tb\n1\t2\n3\n"))
    await expect(page.locator("#ragged")).to_have_text(
        "1 row has more or fewer cells than the header"
    )
    # the count is against the first record, which is no header once the switch says so
    await page.get_by_label("First row is the header").uncheck()
    await expect(page.locator("#ragged")).to_have_text(
        "1 row has more or fewer cells than the first row"
    )
    await page.get_by_label("First row is the header").check()
    await upload(page, write(tmp_path / "even.tsv", b"a\tb\n1\t2\n"))
    await expect(page.locator("#range")).to_have_text("Rows 1–1 of 1")
    await expect(page.locator("#ragged")).to_be_hidden()


async def test_a_column_of_numbers_with_missing_values_is_aligned_as_numbers_at_once(
    in_process: InProcess, open_page, tmp_path
):
    """Before the server's types come, the app guesses from the page: "NA" does not make a
    column of numbers text (nor flip it when the types come)."""
    server = in_process
    await server.hold_views()  # the types wait: the first drawing is the app's guess
    page = await open_page(f"{server.url}/parser/")
    delays = b"flight\tdelay\tfare\nUA1\t-43\t$2,743.39\nUA2\tNA\t$5.00\n"
    await upload(page, write(tmp_path / "delays.tsv", delays))
    await expect(page.locator("#range")).to_have_text("Rows 1–2 of 2")
    delay = page.locator("#table tbody td:nth-child(3)")
    await expect(delay.first).to_have_class(re.compile(r"\bnum\b"))
    await expect(delay.nth(1)).to_have_class(re.compile(r"\bnum\b"))
    # what the server reads as text (a currency) is not guessed a number, to flip back later
    await expect(page.locator("#table tbody td:nth-child(4)").first).not_to_have_class(
        re.compile(r"\bnum\b")
    )
    await server.release_views()


# Item 8: small things


async def test_the_view_bar_claims_only_what_is_so(server, open_page, tmp_path):
    first, second = await two_editors(open_page, server, tmp_path)
    await types_known(first)
    await first.get_by_role("button", name="Sort by amount").click()
    await expect(names(second)).to_have_text(SORTED_BY_AMOUNT)
    await expect(second.locator("#range")).to_have_text("Rows 1–5 of 5")  # sorted, not searched
    await first.get_by_role("button", name="Clear for everyone").click()
    for page in (first, second):
        await expect(names(page)).to_have_text(FILE_ORDER)
        # the whole table in file order: no claim about it, and nothing to clear
        await expect(page.locator("#view-note")).to_have_text("")
        await expect(page.locator("#group-view")).to_be_hidden()
        await expect(page.locator("#clear-view")).to_be_hidden()
    header = first.get_by_label("First row is the header")
    await header.uncheck()
    await expect(second.locator("#range")).to_have_text("Rows 1–6 of 6")
    await expect(second.locator("#group-view")).to_contain_text("no header row")
    await header.check()  # back as uploaded: the whole table again
    await expect(second.locator("#range")).to_have_text("Rows 1–5 of 5")
    for page in (first, second):
        await expect(page.locator("#group-view")).to_be_hidden()
        await expect(page.locator("#clear-view")).to_be_hidden()


async def test_ones_own_view_and_name(server, open_page, tmp_path):
    editor = await open_page(f"{server.url}/parser/")
    await upload(editor, write(tmp_path / "people.tsv", PEOPLE))
    await expect(editor.locator("#range")).to_have_text("Rows 1–5 of 5")
    viewer = await open_page(editor.url)
    await types_known(viewer)
    name = await viewer.evaluate("localStorage.getItem('tablecast:name')")
    assert re.fullmatch(r"Guest \d{4}", name)
    await expect(viewer.locator("#me")).to_have_text(f"you are {name}")  # who one is to others
    await viewer.get_by_role("button", name="Sort by name").click()
    await expect(names(viewer)).to_have_text(["Ada", "ada", "Alan", "Edsger", "grace"])
    # one's own view is one's own: no "by" anyone
    await expect(viewer.locator("#view-note")).to_have_text("Your view: sorted by name ▲")
    await expect(viewer.locator("#group-view")).to_be_hidden()
    await viewer.get_by_role("button", name="Clear").click()
    await expect(names(viewer)).to_have_text(FILE_ORDER)
    await expect(viewer.locator("#view-note")).to_have_text("")


async def test_an_old_versions_banner_reads_as_one_sentence(server, open_page, tmp_path):
    first, _ = await two_editors(open_page, server, tmp_path)
    doc = {"id": first.url.rsplit("/", 1)[1], "edit_key": await edit_key(first)}
    assert put(server.url, doc, b"name\nonly\n", "?name=b.tsv")[0] == 200
    await expect(first.locator("#version")).to_have_text("version 2")
    await first.get_by_role("button", name="Versions").click()
    await first.locator("#versions-list li").nth(1).get_by_role("button", name="Open").click()
    banner = first.locator("#old-banner")
    await expect(banner).to_be_visible()
    # as rendered (innerText), not as the markup's text: no gaps around the number
    assert (await banner.inner_text()).startswith("Viewing version 1, read-only.\n")


async def test_escape_closes_the_download_menu(server, open_page, tmp_path):
    page = await open_page(f"{server.url}/parser/")
    await upload(page, write(tmp_path / "a.tsv", table(3)))
    await expect(page.locator("#range")).to_have_text("Rows 1–3 of 3")
    menu = page.locator(".downloads .menu")
    summary = page.locator(".downloads summary")
    await summary.click()
    await expect(menu).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(menu).to_be_hidden()
    await expect(summary).to_be_focused()  # where the menu was opened from
    await summary.click()
    await expect(menu).to_be_visible()
    await page.locator("#range").click()  # a click elsewhere closes it too
    await expect(menu).to_be_hidden()


async def test_the_tab_is_titled_with_the_documents_name(server, open_page, tmp_path):
    page = await open_page(f"{server.url}/parser/")
    await expect(page).to_have_title("tablecast")
    await upload(page, write(tmp_path / "cities.tsv", table(3)))
    await expect(page.locator("#range")).to_have_text("Rows 1–3 of 3")
    await expect(page).to_have_title("cities.tsv")
    viewer = await open_page(page.url)
    await expect(viewer).to_have_title("cities.tsv")
    doc = {"id": page.url.rsplit("/", 1)[1], "edit_key": await edit_key(page)}
    assert put(server.url, doc, table(4), "?name=towns.tsv")[0] == 200
    for tab in (page, viewer):
        await expect(tab).to_have_title("towns.tsv")
    # an old version looked at: the tab says which
    await viewer.get_by_role("button", name="Versions").click()
    await viewer.locator("#versions-list li").nth(1).get_by_role("button", name="Open").click()
    await expect(viewer.locator("#old-banner")).to_contain_text("Viewing version 1")
    await expect(viewer).to_have_title("cities.tsv (version 1)")
    await viewer.locator("#old-banner").get_by_role("button").click()  # back to the live one
    await expect(viewer).to_have_title("towns.tsv")


async def test_ones_own_search_comes_back_after_a_reconnect(server_factory, open_page, tmp_path):
    server = server_factory()
    editor = await open_page(f"{server.url}/parser/")
    await upload(editor, write(tmp_path / "people.tsv", table(1000)))
    await expect(editor.locator("#range")).to_have_text("Rows 1–100 of 1,000")
    viewer = await open_page(editor.url)
    await viewer.get_by_label("Search all cells").fill("r5")  # r5, r50-r59, r500-r599
    await expect(viewer.locator("#range")).to_have_text("Rows 1–100 of 111 matching")
    await viewer.get_by_role("button", name="Next page").click()
    await expect(viewer.locator("#range")).to_have_text("Rows 101–111 of 111 matching")

    assert server.stop() == 0
    await expect(viewer.locator("#offline")).to_be_visible()
    server_factory(data_dir=server.data_dir, port=server.port)
    await try_now(viewer)
    await expect(viewer.locator("#status")).to_have_text(re.compile("Live"), timeout=20_000)
    await expect(viewer.locator("#range")).to_have_text("Rows 101–111 of 111 matching")
    await expect(viewer.get_by_label("Search all cells")).to_have_value("r5")
