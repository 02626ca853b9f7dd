"""Editing cells in place in the browser app, and seeing the others' edits, in real Chromium."""

from __future__ import annotations

import asyncio
import json
import re

from playwright.async_api import Locator, Page, expect

from pages import PEOPLE, edit_key, names, two_editors, upload, write
from support import http, table

JUST_CHANGED = re.compile(r"\bjust-changed\b")
SAVING = re.compile(r"\bsaving\b")


def cell(page: Page, row: int, column: int) -> Locator:
    """A data cell by its row number (as the API numbers rows) and column (from 0)."""
    return page.locator(f'#table tbody tr[data-row="{row}"] > td[data-column="{column}"]')


def editor(page: Page) -> Locator:
    return page.locator("#table input.cell-editor")


def row_number(page: Page, row: int) -> Locator:
    """The button of a row's number (an editor's), which selects the row."""
    return page.locator(f'#table tbody tr[data-row="{row}"] button.row-select')


def new_row_field(page: Page, column: str) -> Locator:
    return page.locator("#new-row").get_by_label(column, exact=True)


async def test_cells_are_edited_in_place_and_the_others_see_them_marked(
    server, open_page, tmp_path
):
    first, second = await two_editors(open_page, server, tmp_path)

    # a double click opens the cell's editor, its text selected: typing replaces it
    await cell(first, 1, 1).dblclick()
    field = cell(first, 1, 1).locator("input.cell-editor")
    await expect(field).to_be_focused()
    await expect(field).to_have_value("Paris")
    selected = await field.evaluate("input => [input.selectionStart, input.selectionEnd]")
    assert selected == [0, len("Paris")]
    await first.keyboard.type("Lyon")
    await first.keyboard.press("Enter")
    # shown at once; the editor goes down to the next row
    await expect(cell(first, 1, 1)).to_have_text("Lyon")
    below = cell(first, 2, 1).locator("input.cell-editor")
    await expect(below).to_have_value("Oslo")
    await expect(below).to_be_focused()

    # everyone gets the new version; the others see the cell marked as just changed
    for page in (first, second):
        await expect(page.locator("#version")).to_have_text("version 2")
    await expect(cell(second, 1, 1)).to_have_text("Lyon")
    await expect(cell(second, 1, 1)).to_have_class(JUST_CHANGED)
    assert await second.locator("#table td.just-changed").count() == 1  # that cell alone
    # the editor outlived the page that drew the rows anew, the focus in it; the value saved
    # is the page's own now
    await expect(cell(first, 2, 1).locator("input.cell-editor")).to_be_focused()
    await expect(cell(first, 1, 1)).not_to_have_class(SAVING)
    await expect(cell(first, 1, 1)).to_have_text("Lyon")

    # Escape gives up: the cell shows what it showed, the focus on it, nothing sent
    await first.keyboard.type("Bergen")
    await first.keyboard.press("Escape")
    await expect(editor(first)).to_have_count(0)
    await expect(cell(first, 2, 1)).to_have_text("Oslo")
    await expect(cell(first, 2, 1)).to_be_focused()
    # Enter (or F2) on a focused cell edits it; the same text is nothing to send
    await first.keyboard.press("F2")
    await expect(cell(first, 2, 1).locator("input.cell-editor")).to_have_value("Oslo")
    await first.keyboard.press("Enter")
    await expect(cell(first, 3, 1).locator("input.cell-editor")).to_have_value("paris")
    await first.keyboard.press("Escape")
    await asyncio.sleep(0.3)
    await expect(first.locator("#version")).to_have_text("version 2")

    # what is being typed stays while someone else's version comes
    await cell(first, 3, 0).dblclick()
    await first.keyboard.type("Alan Turing")
    await cell(second, 4, 1).dblclick()
    await second.keyboard.type("Quito")
    await second.keyboard.press("Enter")
    await expect(first.locator("#version")).to_have_text("version 3")
    await expect(cell(first, 4, 1)).to_have_text("Quito")
    await expect(cell(first, 4, 1)).to_have_class(JUST_CHANGED)
    field = cell(first, 3, 0).locator("input.cell-editor")
    await expect(field).to_have_value("Alan Turing")
    await expect(field).to_be_focused()
    # Tab saves and goes right, Shift+Tab left
    await first.keyboard.press("Tab")
    await expect(cell(first, 3, 1).locator("input.cell-editor")).to_have_value("paris")
    await expect(cell(second, 3, 0)).to_have_text("Alan Turing")
    await expect(cell(second, 3, 0)).to_have_class(JUST_CHANGED)
    await first.keyboard.press("Shift+Tab")
    await expect(cell(first, 3, 0).locator("input.cell-editor")).to_have_value("Alan Turing")
    await first.keyboard.press("Escape")
    await expect(editor(first)).to_have_count(0)
    # the marks go after a few seconds
    await expect(cell(second, 3, 0)).not_to_have_class(JUST_CHANGED, timeout=8000)

    # a view link cannot edit
    viewer = await open_page(first.url.split("#", 1)[0])
    await expect(cell(viewer, 1, 1)).to_have_text("Lyon")
    await expect(viewer.locator("#read-only")).to_be_visible()
    await cell(viewer, 1, 1).dblclick()
    await asyncio.sleep(0.3)
    await expect(editor(viewer)).to_have_count(0)
    await expect(cell(viewer, 1, 1)).to_have_text("Lyon")


async def test_an_edit_overwritten_or_refused_is_said(server, open_page, tmp_path):
    page = await open_page(f"{server.url}/parser/")
    await upload(page, write(tmp_path / "people.tsv", PEOPLE))
    await expect(page.locator("#range")).to_have_text("Rows 1–5 of 5")
    key = await edit_key(page)
    api = f"{server.url}/parser/api/docs/{page.url.rsplit('/', 1)[1]}"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def set_cell(version: int, row: int, column: int, value: str) -> int:
        body = json.dumps([{"row": row, "column": column, "value": value}]).encode()
        status, answer, _ = http("PATCH", f"{api}/cells?version={version}", body, headers)
        assert status == 200, answer
        return int(answer["version"])

    # someone sets the cell whose editor is open here: saving says it replaced theirs
    await cell(page, 3, 1).dblclick()
    await page.keyboard.type("Rome")
    assert set_cell(1, 3, 1, "Madrid") == 2
    await expect(page.locator("#version")).to_have_text("version 2")
    await expect(editor(page)).to_have_value("Rome")
    await page.keyboard.press("Enter")
    await expect(page.locator("#notice")).to_have_text(
        "Your edit replaced “Madrid” in row 3, set by someone else since you looked."
    )
    await expect(page.locator("#version")).to_have_text("version 3")
    await expect(cell(page, 3, 1)).to_have_text("Rome")
    await page.keyboard.press("Escape")

    # one's own edit, overwritten afterwards by someone else: said once
    await cell(page, 2, 1).dblclick()
    await page.keyboard.type("Bergen")
    await page.keyboard.press("Enter")
    await expect(page.locator("#version")).to_have_text("version 4")
    await expect(cell(page, 2, 1)).not_to_have_class(SAVING)
    await page.keyboard.press("Escape")
    assert set_cell(4, 2, 1, "Tromsø") == 5
    alert = page.locator("#alert-text")
    await expect(alert).to_have_text(
        "Your edit of row 2, column city was overwritten: it now says “Tromsø”."
    )
    await expect(cell(page, 2, 1)).to_have_class(JUST_CHANGED)
    await page.locator("#alert-close").click()
    assert set_cell(5, 2, 1, "Narvik") == 6
    await expect(cell(page, 2, 1)).to_have_text("Narvik")
    await asyncio.sleep(0.3)
    await expect(page.locator("#alert")).to_be_hidden()  # once

    # leaving the cell (a click elsewhere) saves it
    await cell(page, 1, 0).dblclick()
    await page.keyboard.type("Ada L.")
    await page.locator("#range").click()
    await expect(editor(page)).to_have_count(0)
    await expect(cell(page, 1, 0)).to_have_text("Ada L.")
    await expect(page.locator("#version")).to_have_text("version 7")

    # the row being edited is deleted: the editor goes, and its save is refused, said plainly
    await cell(page, 5, 0).dblclick()
    await page.keyboard.type("Ada Byron")
    status, _, _ = http("DELETE", f"{api}/rows?row=5&version=7", None, headers)
    assert status == 200
    await expect(page.locator("#range")).to_have_text("Rows 1–4 of 4")
    await expect(editor(page)).to_have_count(0)
    await expect(alert).to_have_text(
        "That row is gone: someone deleted it since you looked, so your edit was not saved."
        " The table is unchanged."
    )
    await expect(page.locator("#version")).to_have_text("version 8")


async def test_a_cell_set_comes_to_the_others_as_a_patch(server, open_page, tmp_path):
    first, second = await two_editors(open_page, server, tmp_path)
    received: list[str] = []
    # (the page's socket is open already: the frames it receives from here on are listened to
    # on the socket made again after a reload)
    second.on("websocket", lambda ws: ws.on("framereceived", lambda frame: received.append(frame)))
    await second.reload()
    await expect(second.locator("#range")).to_have_text("Rows 1–5 of 5")
    await cell(first, 4, 1).dblclick()
    await first.keyboard.type("Quito")
    await first.keyboard.press("Enter")
    await expect(cell(second, 4, 1)).to_have_text("Quito")
    await expect(cell(second, 4, 1)).to_have_class(JUST_CHANGED)
    kinds = [json.loads(frame).get("type") for frame in received if frame.startswith("{")]
    assert "patch" in kinds  # the row that changed, not the whole page
    assert kinds.count("page") == 1  # the page it joined with


async def test_a_burst_of_changes_is_one_entry_in_the_versions_panel(server, open_page):
    _, doc, _ = http("POST", f"{server.url}/parser/api/docs?name=people.tsv", PEOPLE)
    headers = {"Authorization": f"Bearer {doc['edit_key']}", "Content-Type": "application/json"}

    def set_cell(value: str) -> None:
        body = json.dumps([{"row": 1, "column": 1, "value": value}]).encode()
        assert http("PATCH", f"{doc['api_url']}/cells", body, headers)[0] == 200

    for value in ("Rome", "Oslo", "Lima", "Quito"):  # versions 2-5
        set_cell(value)
    page = await open_page(doc["edit_url"])
    await expect(cell(page, 1, 1)).to_have_text("Quito")
    await page.get_by_role("button", name="Versions").click()
    entries = page.locator("#versions-list > li")
    # the current version alone, the burst before it (the upload too: it came seconds
    # before) as one entry
    await expect(entries).to_have_count(2)
    burst = entries.nth(1)
    await expect(burst.locator("summary")).to_contain_text("Versions 1–4")
    await expect(burst.locator("summary")).to_contain_text("4 versions")
    await expect(burst.locator("li").first).to_be_hidden()
    await burst.locator("summary").click()
    await expect(burst.locator("li")).to_have_count(4)
    await expect(burst.get_by_role("button", name="Restore")).to_have_count(4)
    # a change while the panel is open (it comes as a patch) lists its version; the burst
    # stays open
    set_cell("Bogotá")
    await expect(cell(page, 1, 1)).to_have_text("Bogotá")
    await expect(entries.first).to_contain_text("Version 6")
    await expect(entries.nth(1).locator("summary")).to_contain_text("Versions 1–5")
    await expect(entries.nth(1).locator("li")).to_have_count(5)
    await expect(entries.nth(1).locator("li").first).to_be_visible()


async def test_rows_are_added_and_deleted_and_the_others_see_them(server, open_page, tmp_path):
    first, second = await two_editors(open_page, server, tmp_path)
    form = first.locator("#new-row")
    said = first.locator("#new-row-said")

    # Add row opens a field per column, the focus in the first; Tab goes on, Enter adds it
    await first.get_by_role("button", name="Add row").click()
    await expect(form).to_be_visible()
    await expect(new_row_field(first, "name")).to_be_focused()
    await first.keyboard.type("Barbara")
    await first.keyboard.press("Tab")
    await first.keyboard.type("Boston")
    await first.keyboard.press("Tab")
    await first.keyboard.type("7")
    await first.keyboard.press("Enter")
    await expect(said).to_have_text("Row 6 added at the end.")
    # the fields are empty for the next row, the focus back in the first
    for column in ("name", "city", "amount", "when"):
        await expect(new_row_field(first, column)).to_have_value("")
    await expect(new_row_field(first, "name")).to_be_focused()
    # everyone sees it, marked; nobody moved
    for page in (first, second):
        await expect(page.locator("#range")).to_have_text("Rows 1–6 of 6")
        await expect(page.locator("#version")).to_have_text("version 2")
    await expect(cell(second, 6, 0)).to_have_text("Barbara")
    await expect(cell(second, 6, 1)).to_have_text("Boston")
    await expect(cell(second, 6, 3)).to_have_text("")
    await expect(cell(second, 6, 0)).to_have_class(JUST_CHANGED)
    await expect(first.locator("#new-row-go")).to_be_hidden()  # the page shows it

    # a blank row is not added
    await first.keyboard.press("Enter")
    await expect(said).to_have_text("Type a cell or more first: a blank row is not added.")
    await asyncio.sleep(0.3)
    await expect(first.locator("#version")).to_have_text("version 2")

    # a row the server refuses is said, its cells kept in the form
    for column, text in (("name", "name"), ("city", "city"), ("amount", "amount")):
        await new_row_field(first, column).fill(text)
    await new_row_field(first, "when").fill("when")
    await first.keyboard.press("Enter")
    await expect(first.locator("#alert-text")).to_have_text(
        "A row that repeats the column names reads as the header row: it was not added."
        " The table is unchanged."
    )
    await expect(new_row_field(first, "city")).to_have_value("city")
    await first.locator("#alert-close").click()
    # Escape closes the form, the focus back on Add row; what it held is there next time
    await new_row_field(first, "when").focus()
    await first.keyboard.press("Escape")
    await expect(form).to_be_hidden()
    await expect(first.get_by_role("button", name="Add row")).to_be_focused()
    await first.get_by_role("button", name="Add row").click()
    await expect(new_row_field(first, "amount")).to_have_value("amount")
    await first.get_by_role("button", name="Close the new row").click()
    await expect(form).to_be_hidden()

    # a row's number selects it, Shift+click the rows up to another; they are marked
    await row_number(first, 2).click()
    await row_number(first, 3).click(modifiers=["Shift"])
    selected = first.locator("#table tbody tr.selected")
    await expect(selected).to_have_count(2)
    await expect(row_number(first, 2)).to_have_attribute("aria-pressed", "true")
    await expect(first.locator("#selection-text")).to_have_text("2 rows selected")
    await expect(first.locator("#delete-rows")).to_have_text("Delete 2 rows")
    # a version that leaves their rows as they were keeps them selected
    await cell(second, 1, 1).dblclick()
    await second.keyboard.type("Lyon")
    await second.keyboard.press("Enter")
    await second.keyboard.press("Escape")
    await expect(cell(first, 1, 1)).to_have_text("Lyon")
    await expect(first.locator("#version")).to_have_text("version 3")
    await expect(selected).to_have_count(2)

    # a delete that is never answered is said; the rows stay selected, to try again
    await first.route("**/rows?version=*", lambda route: route.abort())
    await first.keyboard.press("Delete")
    await expect(first.locator("#alert-text")).to_have_text(
        "The rows could not be deleted: is the connection lost? The table is unchanged."
    )
    await expect(selected).to_have_count(2)
    await first.unroute("**/rows?version=*")
    await first.locator("#alert-close").click()

    # the Delete key (no field has the focus) deletes them, for everyone
    await row_number(first, 3).focus()
    await first.keyboard.press("Delete")
    await expect(first.locator("#notice")).to_have_text("2 rows deleted.")
    await expect(selected).to_have_count(0)
    await expect(first.locator("#delete-rows")).to_be_hidden()
    for page in (first, second):
        await expect(page.locator("#range")).to_have_text("Rows 1–4 of 4")
        await expect(page.locator("#version")).to_have_text("version 4")
        await expect(names(page)).to_have_text(["Ada", "Edsger", "ada", "Barbara"])
    # the focus stays in the rows: on the row now where the last one clicked was
    await expect(row_number(first, 3)).to_be_focused()
    await expect(second.locator("#table td.just-changed")).to_have_count(0)

    # in a sorted view, rows are named by their number in the file
    await first.get_by_role("button", name="Sort by city").click()
    await expect(second.locator("#group-view")).to_be_visible()
    await expect(row_number(first, 2)).to_have_text("2")  # Edsger, wherever it sorts
    await row_number(first, 2).click()
    await row_number(first, 3).click(modifiers=["Control"])  # a click toggles, whatever else
    await row_number(first, 3).click()
    await expect(first.locator("#delete-rows")).to_have_text("Delete 1 row")
    await first.get_by_role("button", name="Delete 1 row").click()
    await expect(first.locator("#notice")).to_have_text("1 row deleted.")
    await expect(second.locator("#range")).to_have_text("Rows 1–3 of 3")
    await expect(names(second)).to_have_count(3)
    assert sorted(await names(second).all_inner_texts()) == ["Ada", "Barbara", "ada"]

    # a view link has nothing to add or delete rows with
    viewer = await open_page(first.url.split("#", 1)[0])
    await expect(viewer.locator("#range")).to_have_text("Rows 1–3 of 3")
    await expect(viewer.locator("#read-only")).to_be_visible()
    await expect(viewer.locator("#rows-bar")).to_be_hidden()
    await expect(viewer.get_by_role("button", name="Add row")).to_have_count(0)
    await expect(viewer.locator("#table button.row-select")).to_have_count(0)
    await viewer.locator("#table tbody th").first.click()
    await viewer.keyboard.press("Delete")
    await asyncio.sleep(0.3)
    await expect(viewer.locator("#range")).to_have_text("Rows 1–3 of 3")


async def test_a_row_added_by_a_viewer_browsing_alone_is_gone_to(server, open_page, tmp_path):
    page = await open_page(f"{server.url}/parser/")
    await upload(page, write(tmp_path / "t.tsv", table(150)))
    await expect(page.locator("#range")).to_have_text("Rows 1–100 of 150")
    await edit_key(page)
    await page.get_by_label("Follow the group").uncheck()
    await page.get_by_role("button", name="Sort by c1").click()
    await expect(page.locator("#view-note")).to_contain_text("c1")
    await page.get_by_role("button", name="Add row").click()
    await new_row_field(page, "c0").fill("new")
    await new_row_field(page, "c2").fill("last")
    await page.get_by_role("button", name="Add", exact=True).click()
    await expect(page.locator("#new-row-said")).to_have_text("Row 151 added at the end.")
    await expect(page.locator("#range")).to_have_text("Rows 1–100 of 151")
    # its page is not the one shown: one click goes to it, in file order
    await page.get_by_role("button", name="Go to row 151").click()
    await expect(page.locator("#range")).to_have_text("Rows 101–151 of 151")
    await expect(page.locator("#view-note")).to_have_text("")
    await expect(cell(page, 151, 0)).to_have_text("new")
    await expect(cell(page, 151, 2)).to_have_class(JUST_CHANGED)
    await expect(row_number(page, 151)).to_be_focused()
    await expect(page.locator("#new-row-go")).to_be_hidden()
    # a page turn drops the rows selected
    await row_number(page, 150).click()
    await expect(page.locator("#table tbody tr.selected")).to_have_count(1)
    await page.get_by_role("button", name="First page").click()
    await expect(page.locator("#range")).to_have_text("Rows 1–100 of 151")
    await page.get_by_role("button", name="Next page").click()
    await expect(page.locator("#range")).to_have_text("Rows 101–151 of 151")
    await expect(page.locator("#table tbody tr.selected")).to_have_count(0)
    await expect(page.locator("#rows-bar")).to_be_visible()
