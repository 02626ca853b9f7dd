"""Column profiles, facets and type overrides in the browser app, in real Chromium: the strips
under the column names, the column menu, facet chips, and all of them shared in follow mode."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.async_api import Page, expect

from pages import PEOPLE, edit_key, names, two_editors, upload, write
from support import put, table


def strip(page: Page, column: int):
    """The profile strip under column ``column``'s name (0 is the first)."""
    return page.locator(f"#table thead tr:first-child th:nth-child({column + 2}) svg.strip")


def menu(page: Page):
    return page.get_by_role("dialog")


def value(page: Page, text: str):
    """A value to pick in the open column menu."""
    return menu(page).locator(
        "button.facet-value", has=page.locator(".value", has_text=re.compile(f"^{text}$"))
    )


async def my_name(page: Page) -> str:
    text = await page.locator("#me").inner_text()
    return text.removeprefix("you are ")


async def test_strips_and_the_column_menu_show_each_columns_profile(server, open_page, tmp_path):
    """A number column's strip is a histogram, a text column's its top values; the menu shows
    the whole profile, sorts, and closes on Escape with the focus back on its button. Profiles
    are fetched once per view: not again for a page turn or a sort."""
    rows = "".join(f"p{i}\t{'Lima' if i % 3 else 'Oslo'}\t{i}\n" for i in range(250))
    page = await open_page(f"{server.url}/parser/")
    asked: list[str] = []
    page.on(
        "request", lambda request: asked.append(request.url) if "/columns" in request.url else None
    )
    await upload(page, write(tmp_path / "t.tsv", ("name\tcity\tamount\n" + rows).encode()))
    await expect(page.locator("#range")).to_have_text("Rows 1–100 of 250")

    await expect(strip(page, 2)).to_have_attribute("data-kind", "histogram")
    await expect(strip(page, 2).locator("title")).to_have_text("amount: 250 values from 0 to 249")
    assert (await strip(page, 2).locator("path").get_attribute("d") or "").count("M") == 20
    await expect(strip(page, 1)).to_have_attribute("data-kind", "top")
    await expect(strip(page, 1).locator("title")).to_have_text("city: Lima 166, Oslo 84")
    assert (await strip(page, 1).locator("path").get_attribute("d") or "").count("M") == 2

    button = page.get_by_role("button", name="Column menu: amount")
    await button.click()
    await expect(menu(page)).to_be_visible()
    await expect(button).to_have_attribute("aria-expanded", "true")
    await expect(menu(page).locator("h2")).to_have_text("amount")
    profile = menu(page).locator("dl")
    await expect(profile.locator("dt")).to_have_text(
        ["Type", "Rows", "Values", "Missing", "Distinct", "Min", "Max", "Mean"]
    )
    await expect(profile.locator("dd")).to_have_text(
        ["integer", "250", "250", "0", "250", "0", "249", "124.5"]
    )
    await expect(menu(page).locator("button.facet-value")).to_have_count(50)
    await menu(page).get_by_role("button", name="More values").click()
    await expect(menu(page).locator("button.facet-value")).to_have_count(200)
    await menu(page).get_by_role("button", name="Sort descending").click()
    await expect(names(page).first).to_have_text("p249")
    await page.keyboard.press("Escape")
    await expect(menu(page)).to_be_hidden()
    await expect(button).to_be_focused()
    await expect(button).to_have_attribute("aria-expanded", "false")

    await page.get_by_role("button", name="Next page").click()
    await expect(page.locator("#range")).to_have_text("Rows 101–200 of 250")
    await page.get_by_role("button", name="Sort by name").click()
    await expect(names(page).nth(2)).to_have_text("p10")  # text order: p0, p1, p10
    assert len(asked) == 1, asked  # the upload's page: nothing since, for turns and sorts


async def test_a_facet_value_picked_filters_the_table_and_its_count(server, open_page, tmp_path):
    page = await open_page(f"{server.url}/parser/")
    await upload(page, write(tmp_path / "people.tsv", PEOPLE))
    await expect(page.locator("#range")).to_have_text("Rows 1–5 of 5")
    await page.get_by_role("button", name="Column menu: city").click()
    # the counts of the column's values, most frequent first, ties by value
    await expect(menu(page).locator("button.facet-value")).to_have_text(
        [
            re.compile(r"^.?Lima\s*2$"),
            re.compile(r"^.?Oslo\s*1$"),
            re.compile(r"^.?Paris\s*1$"),
            re.compile(r"^.?paris\s*1$"),
        ]
    )
    await value(page, "Lima").click()
    await expect(page.locator("#range")).to_have_text("Rows 1–2 of 2 matching")
    await expect(names(page)).to_have_text(["Edsger", "ada"])
    await expect(value(page, "Lima")).to_have_attribute("aria-pressed", "true")
    await expect(value(page, "Lima")).to_be_focused()  # the list drawn again keeps the focus
    # a second value of the same column: either one; its count is under the other facets only
    await value(page, "Oslo").click()
    await expect(page.locator("#range")).to_have_text("Rows 1–3 of 3 matching")
    await expect(names(page)).to_have_text(["grace", "Edsger", "ada"])
    # the strips describe the rows shown
    await expect(strip(page, 1).locator("title")).to_have_text("city: Lima 2, Oslo 1")
    await page.keyboard.press("Escape")

    chips = page.locator("#facet-chips li")
    await expect(chips).to_have_text([re.compile(r"^city = Lima"), re.compile(r"^city = Oslo")])
    await page.get_by_role("button", name="Remove city = Lima").click()
    await expect(page.locator("#range")).to_have_text("Rows 1–1 of 1 matching")
    await expect(names(page)).to_have_text(["grace"])
    await page.get_by_role("button", name="Clear all").click()
    await expect(page.locator("#range")).to_have_text("Rows 1–5 of 5")
    await expect(page.locator("#facets")).to_be_hidden()


async def test_an_editors_facet_reaches_every_follower_with_who_set_it(server, open_page, tmp_path):
    first, second = await two_editors(open_page, server, tmp_path)
    await first.get_by_role("button", name="Column menu: city").click()
    await value(first, "Lima").click()
    who = await my_name(first)
    for page in (first, second):
        await expect(page.locator("#range")).to_have_text("Rows 1–2 of 2 matching")
        await expect(names(page)).to_have_text(["Edsger", "ada"])
        await expect(page.locator("#facet-chips li")).to_have_text([re.compile(r"^city = Lima")])
    await expect(first.locator("#facets-by")).to_have_text("set by you")
    await expect(second.locator("#facets-by")).to_have_text(f"set by {who}")
    await expect(second.locator("#group-view")).to_contain_text(f"city is “Lima” — set by {who}")

    await second.get_by_role("button", name="Clear all for everyone").click()
    for page in (first, second):
        await expect(page.locator("#range")).to_have_text("Rows 1–5 of 5")
        await expect(page.locator("#facets")).to_be_hidden()
    await expect(names(first)).to_have_text(["Ada", "grace", "Alan", "Edsger", "ada"])


async def test_an_editors_type_override_re_sorts_the_column_for_everyone(
    server, open_page, tmp_path
):
    codes = b"name\tcode\na\t10\nb\t9\nc\t100\nd\tx9\n"
    first = await open_page(f"{server.url}/parser/")
    await upload(first, write(tmp_path / "codes.tsv", codes))
    await expect(first.locator("#range")).to_have_text("Rows 1–4 of 4")
    second = await open_page(f"{first.url}#key={await edit_key(first)}")
    await expect(second.locator("#range")).to_have_text("Rows 1–4 of 4")
    await first.get_by_role("button", name="Sort by code").click()
    for page in (first, second):
        await expect(names(page)).to_have_text(["a", "c", "b", "d"])  # as text: 10, 100, 9

    await first.get_by_role("button", name="Column menu: code").click()
    await expect(menu(first).locator("dl dd").first).to_have_text("text")
    await menu(first).get_by_label("Read this column as").select_option("integer")
    for page in (first, second):
        # as integers: 9, 10, 100, and x9, which is no integer, last
        await expect(names(page)).to_have_text(["b", "a", "c", "d"])
        await expect(page.locator("#group-view")).to_contain_text("code read as integer")
        await expect(page.locator("#table tbody td:nth-child(3)").first).to_have_class(
            re.compile(r"\bnum\b")
        )
    await expect(menu(first).locator("dl dd").first).to_have_text("integer (inferred text)")
    await expect(menu(first).locator("dl")).to_contain_text("Not read as integer1")
    # back to the type it is inferred as: text order again, for both
    await menu(first).get_by_label("Read this column as").select_option("")
    for page in (first, second):
        await expect(names(page)).to_have_text(["a", "c", "b", "d"])


async def test_two_hundred_columns_get_a_strip_each_and_a_page_turn_keeps_the_header(
    server, open_page, tmp_path
):
    """One profile request and one path per column; a page turn draws rows, not the header
    (its element stays, strips and all)."""
    page = await open_page(f"{server.url}/parser/")
    await upload(page, write(tmp_path / "wide.tsv", table(120, cols=200)))
    # 200 kB: on a loaded machine its upload may take a while
    await expect(page.locator("#range")).to_have_text("Rows 1–100 of 120", timeout=30_000)
    await expect(page.locator('#table svg.strip[data-kind="top"]')).to_have_count(200)
    assert await page.locator("#table thead path").count() == 200
    await page.evaluate("document.querySelector('#table thead tr').dataset.drawn = 'before'")
    await page.get_by_role("button", name="Next page").click()
    await expect(page.locator("#range")).to_have_text("Rows 101–120 of 120")
    await expect(page.locator("#table thead tr").first).to_have_attribute("data-drawn", "before")
    await expect(page.locator('#table svg.strip[data-kind="top"]')).to_have_count(200)


async def test_a_wide_tables_strips_come_a_range_of_columns_at_a_time_as_they_come_in_sight(
    server, open_page, tmp_path
):
    """The server profiles 200 columns a request: the strips of a table of 450 are asked for
    the first 200, then for each further range once scrolled to (or once a column menu of it
    opens), and none twice."""
    page = await open_page(f"{server.url}/parser/")
    asked: list[str] = []
    page.on(
        "request", lambda request: asked.append(request.url) if "/columns" in request.url else None
    )
    await upload(page, write(tmp_path / "wider.tsv", table(20, cols=450)))
    await expect(page.locator("#range")).to_have_text("Rows 1–20 of 20", timeout=30_000)
    strips = page.locator('#table svg.strip[data-kind="top"]')
    await expect(strips).to_have_count(200)
    await expect(strip(page, 449)).not_to_have_attribute("data-kind", "top")
    await page.evaluate("document.getElementById('table-wrap').scrollLeft = 1e9")
    await expect(strip(page, 449)).to_have_attribute("data-kind", "top")
    await expect(strips).to_have_count(250)  # 400-449 only: 200-399 are not in sight
    await page.get_by_role("button", name="Column menu: c300").click()  # (scrolled to)
    await expect(menu(page)).to_be_visible()
    await expect(strips).to_have_count(450)
    await expect(menu(page).locator("dl dd").first).to_have_text("text")
    await page.keyboard.press("Escape")
    await page.evaluate("document.getElementById('table-wrap').scrollLeft = 0")
    await page.evaluate("document.getElementById('table-wrap').scrollLeft = 1e9")
    await expect(strips).to_have_count(450)
    ranges = sorted(re.sub(r".*[?&]from=(\d+).*", r"\1", url) if "from=" in url else "0"
                    for url in asked)  # fmt: skip
    assert ranges == ["0", "200", "400"], asked


async def test_on_a_phone_the_column_menu_is_a_sheet_within_the_screen(server, open_page, tmp_path):
    page = await open_page(f"{server.url}/parser/", viewport={"width": 375, "height": 700})
    await upload(page, write(tmp_path / "people.tsv", PEOPLE))
    await expect(page.locator("#range")).to_have_text("Rows 1–5 of 5")
    await expect(strip(page, 3)).to_have_attribute("data-kind", "histogram")  # dates too
    button = page.get_by_role("button", name="Column menu: when")
    await button.focus()
    await page.keyboard.press("Enter")
    await expect(menu(page)).to_be_visible()
    await expect(menu(page).get_by_role("button", name="Close the column menu")).to_be_focused()
    await expect(menu(page).locator("dl dd").first).to_have_text("date")
    box = await menu(page).bounding_box()
    assert box is not None
    assert box["x"] == 0 and box["width"] == 375  # the screen's width
    assert abs(box["y"] + box["height"] - 700) < 1  # along its bottom
    await page.keyboard.press("Escape")
    await expect(menu(page)).to_be_hidden()
    await expect(button).to_be_focused()


async def test_screenshots_of_profiles_and_facets(server, open_page, tmp_path):
    """docs/screenshots/column-menu.png (`make screenshots` writes it there): the strips, a
    facet's chip, and a column's menu."""
    out = Path(os.environ.get("TABLECAST_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    from bench.data import tsv

    page = await open_page(f"{server.url}/parser/", viewport={"width": 1280, "height": 760})
    await upload(page, write(tmp_path / "people.tsv", tsv(12408)))
    await expect(page.locator("#range")).to_have_text("Rows 1–100 of 12,408", timeout=30_000)
    await expect(page.locator("#notice")).to_be_hidden(timeout=10_000)  # it fades by itself
    await page.get_by_role("button", name="Column menu: city").click()
    await value(page, "Oslo").click()
    await expect(page.locator("#range")).to_contain_text("matching")
    await page.keyboard.press("Escape")
    await page.get_by_role("button", name="Column menu: amount").click()
    await expect(menu(page).locator("dl dd").first).to_have_text("decimal")
    await expect(strip(page, 4)).to_have_attribute("data-kind", "histogram")
    await expect(page.locator("#table thead tr.stale-strips")).to_have_count(0)
    await page.screenshot(path=str(out / "column-menu.png"))
    assert (out / "column-menu.png").stat().st_size > 10_000


async def test_an_old_versions_strips_and_facets_are_its_own(server, open_page, tmp_path):
    page = await open_page(f"{server.url}/parser/")
    await upload(page, write(tmp_path / "people.tsv", PEOPLE))
    await expect(page.locator("#range")).to_have_text("Rows 1–5 of 5")
    doc = {"id": page.url.rsplit("/", 1)[1], "edit_key": await edit_key(page)}
    assert put(server.url, doc, b"name\tcity\nX\tRome\n", "?name=short.tsv")[0] == 200
    await expect(page.locator("#version")).to_have_text("version 2")
    await expect(strip(page, 1).locator("title")).to_have_text("city: Rome 1")

    await page.get_by_role("button", name="Versions").click()
    await page.locator("#versions-list li").nth(1).get_by_role("button", name="Open").click()
    await expect(page.locator("#old-banner")).to_contain_text("Viewing version 1, read-only")
    await expect(strip(page, 1).locator("title")).to_have_text(
        "city: Lima 2, Oslo 1, Paris 1, paris 1"
    )
    # a facet on it is browsed on one's own, over HTTP
    await page.get_by_role("button", name="Column menu: city").click()
    await value(page, "Lima").click()
    await expect(page.locator("#range")).to_have_text("Rows 1–2 of 2 matching")
    await expect(page.locator("#facet-chips li")).to_have_text([re.compile(r"^city = Lima")])
    await expect(page.locator("#facets-by")).to_have_text("")
    await page.keyboard.press("Escape")

    await page.get_by_role("button", name="Back to the live table").click()
    await expect(page.locator("#range")).to_have_text("Rows 1–1 of 1")
    await expect(strip(page, 1).locator("title")).to_have_text("city: Rome 1")
    await expect(page.locator("#facets")).to_be_hidden()


async def test_a_view_links_facet_is_its_own(server, open_page, tmp_path):
    """Someone with the view link who picks a value browses on their own: the group (and the
    editor) keep every row."""
    editor = await open_page(f"{server.url}/parser/")
    await upload(editor, write(tmp_path / "people.tsv", PEOPLE))
    await expect(editor.locator("#range")).to_have_text("Rows 1–5 of 5")
    viewer = await open_page(editor.url)  # a view link
    await expect(viewer.locator("#range")).to_have_text("Rows 1–5 of 5")
    await viewer.get_by_role("button", name="Column menu: city").click()
    await value(viewer, "Oslo").click()
    await expect(viewer.locator("#range")).to_have_text("Rows 1–1 of 1 matching")
    await expect(viewer.get_by_text("Browsing on your own")).to_be_visible()
    await expect(viewer.get_by_role("button", name="Clear all", exact=True)).to_be_visible()
    await expect(editor.locator("#facets")).to_be_hidden()
    assert await editor.locator("#range").inner_text() == "Rows 1–5 of 5"
