"""A workbook of several sheets in the browser app: the bar says which sheet is shown (a
select for editors, its name for the others), and another sheet chosen is read, for
everyone, as a new version; a refusal says why and shows the sheet shown again."""

from __future__ import annotations

import io
import json
from pathlib import Path

import xlsxwriter
from playwright.async_api import Locator, Page, Route, expect

from pages import edit_key, upload, write


def workbook() -> bytes:
    """Two sheets: Cities (city, people) and Notes (note)."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    cities = book.add_worksheet("Cities")
    for r, row in enumerate([["city", "people"], ["Lyon", 522250], ["Nantes", 320732]]):
        cities.write_row(r, 0, row)
    notes = book.add_worksheet("Notes")
    for r, row in enumerate([["note"], ["hello"]]):
        notes.write_row(r, 0, row)
    book.close()
    return out.getvalue()


def sheet_select(page: Page) -> Locator:
    return page.get_by_label("Sheet", exact=True)


async def editor_and_viewer(open_page, server, tmp_path: Path) -> tuple[Page, Page]:
    editor = await open_page(f"{server.url}/parser/")
    await upload(editor, write(tmp_path / "book.xlsx", workbook()))
    await expect(editor.locator("#range")).to_have_text("Rows 1–2 of 2")
    await edit_key(editor)  # the page's address is the share link now
    viewer = await open_page(editor.url.split("#", 1)[0])
    await expect(viewer.locator("#range")).to_have_text("Rows 1–2 of 2")
    return editor, viewer


async def test_another_sheet_chosen_is_shown_to_everyone(server, open_page, tmp_path):
    editor, viewer = await editor_and_viewer(open_page, server, tmp_path)

    # the editor picks among the sheets; the view link reads which one is shown
    select = sheet_select(editor)
    await expect(select).to_be_visible()
    await expect(select).to_have_value("Cities")
    options = await select.locator("option").all_text_contents()
    assert options == ["Cities", "Notes"]
    await expect(editor.locator("#table")).to_contain_text("Nantes")
    await expect(editor.locator("#sheet-name")).to_be_hidden()
    await expect(viewer.locator("#sheet-name")).to_have_text("Sheet: Cities")
    await expect(viewer.locator("#sheet-select")).to_be_hidden()
    await expect(viewer.locator("#read-only")).to_be_visible()

    # Notes chosen (by the keyboard: the select takes the focus, as any control does)
    await select.focus()
    await expect(select).to_be_focused()
    await select.select_option("Notes")
    for page in (editor, viewer):
        await expect(page.locator("#version")).to_have_text("version 2")
        await expect(page.locator("#table")).to_contain_text("hello")
        await expect(page.locator("#table")).not_to_contain_text("Nantes")
        await expect(page.locator("#range")).to_have_text("Rows 1–1 of 1")
    await expect(select).to_have_value("Notes")
    await expect(select).to_be_enabled()
    await expect(select).to_be_focused()  # disabled while Notes was read, the focus is back
    await expect(editor.locator("#sheet-reading")).to_have_text("")
    await expect(viewer.locator("#sheet-name")).to_have_text("Sheet: Notes")
    assert await editor.locator("#alert").is_hidden()

    # an old version, read-only, says no sheet; back on the live table, the select is back
    await editor.locator("#versions-button").click()
    await editor.locator('#versions-list li[data-version="1"] button[data-action="open"]').click()
    await expect(editor.locator("#old-banner")).to_be_visible()
    await expect(editor.locator("#table")).to_contain_text("Nantes")
    await expect(editor.locator("#sheet")).to_be_hidden()
    await editor.locator("#back-live").click()
    await expect(select).to_have_value("Notes")


async def test_a_sheet_being_read_is_said_and_a_refusal_puts_the_sheet_back(
    server, open_page, tmp_path
):
    editor, _ = await editor_and_viewer(open_page, server, tmp_path)
    select = sheet_select(editor)
    await expect(select).to_have_value("Cities")

    # the request held until the test says: the select disabled, the sheet asked for said
    asked: list[Route] = []

    async def hold(route: Route) -> None:
        asked.append(route)

    await editor.route("**/sheet?sheet=*", hold)
    await select.select_option("Notes")
    await expect(editor.locator("#sheet-reading")).to_have_text("Reading sheet Notes…")
    await expect(select).to_be_disabled()
    await expect(select).to_have_value("Notes")
    assert len(asked) == 1
    assert asked[0].request.method == "POST"
    assert asked[0].request.headers["authorization"] == f"Bearer {await edit_key(editor)}"
    assert asked[0].request.url.endswith("/sheet?sheet=Notes")

    # refused: the alert says why, the select shows the sheet shown again, enabled
    message = "the workbook has no sheet 'Notes': its sheets are 'Cities'"
    await asked[0].fulfill(
        status=400,
        content_type="application/json",
        body=json.dumps({"error": {"code": "bad_option", "message": message}}),
    )
    await expect(editor.locator("#alert-text")).to_have_text(
        "The workbook has no sheet 'Notes': its sheets are 'Cities'. The table is unchanged."
    )
    await expect(select).to_have_value("Cities")
    await expect(select).to_be_enabled()
    await expect(editor.locator("#sheet-reading")).to_have_text("")
    await expect(editor.locator("#version")).to_have_text("version 1")
    await expect(editor.locator("#table")).to_contain_text("Nantes")


async def test_one_sheet_or_no_workbook_says_no_sheet(server, open_page, tmp_path):
    page = await open_page(f"{server.url}/parser/")
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    only = book.add_worksheet("Only")
    only.write_row(0, 0, ["city", "people"])
    only.write_row(1, 0, ["Lyon", 522250])
    book.close()
    await upload(page, write(tmp_path / "one.xlsx", out.getvalue()))
    await expect(page.locator("#table")).to_contain_text("Lyon")
    await expect(page.locator("#sheet")).to_be_hidden()
    await upload(page, write(tmp_path / "two.tsv", b"city\tpeople\nLyon\t522250\nNantes\t320732\n"))
    await expect(page.locator("#range")).to_have_text("Rows 1–2 of 2")
    await expect(page.locator("#sheet")).to_be_hidden()
