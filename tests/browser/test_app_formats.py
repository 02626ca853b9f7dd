"""The app takes every format the server reads (issue 19): by the file picker, whose
``accept`` lists them, and by drop; a file that is no table is refused in a sentence."""

from __future__ import annotations

import base64
import io

import pyarrow as pa
import pyarrow.parquet as pq
from playwright.async_api import expect

from pages import upload, write
from test_workbooks import xlsx


async def test_the_file_picker_offers_every_format_read(server, open_page):
    page = await open_page(f"{server.url}/parser/")
    accept = await page.locator("#file").get_attribute("accept")
    assert accept is not None
    for suffix in (".tsv", ".csv", ".xlsx", ".xlsm", ".xlsb", ".xls", ".ods", ".parquet",
                   ".arrow", ".json", ".jsonl"):  # fmt: skip
        assert suffix in accept.split(","), suffix


async def test_a_workbook_dropped_shows_its_sheet(server, open_page):
    page = await open_page(f"{server.url}/parser/")
    data = base64.b64encode(xlsx()).decode()
    transfer = await page.evaluate_handle(
        """(data) => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "cities.xlsx"));
            return transfer;
        }""",
        data,
    )
    await page.dispatch_event("main", "dragenter", {"dataTransfer": transfer})
    await page.dispatch_event("main", "drop", {"dataTransfer": transfer})
    await expect(page.locator("#range")).to_have_text("Rows 1–1 of 1")
    await expect(page.locator("#filename")).to_have_text("cities.xlsx")
    await expect(page.locator("#table")).to_contain_text("Lyon")
    await expect(page.locator("#table")).to_contain_text("522250")


async def test_parquet_chosen_shows_its_rows_and_nested_parquet_is_refused(
    server, open_page, tmp_path
):
    page = await open_page(f"{server.url}/parser/")
    out = io.BytesIO()
    pq.write_table(pa.table({"city": ["Lyon", "Nantes"], "people": [522250, 320732]}), out)
    await upload(page, write(tmp_path / "cities.parquet", out.getvalue()))
    await expect(page.locator("#range")).to_have_text("Rows 1–2 of 2")
    await expect(page.locator("#table")).to_contain_text("320732")
    nested = io.BytesIO()
    pq.write_table(pa.table({"tags": [["a", "b"]]}), nested)
    await upload(page, write(tmp_path / "nested.parquet", nested.getvalue()))
    await expect(page.locator("#alert-text")).to_have_text(
        "Column 'tags' holds nested values (list<element: string>): a table's cells are single"
        " values; flatten it first. The table is unchanged."
    )
    await expect(page.locator("#range")).to_have_text("Rows 1–2 of 2")
