"""The article's client, unchanged, in real Chromium: its browser gets its way back to the
document it made (issue 14, item 14)."""

from __future__ import annotations

# The article's browser code, as a page script would run it: open /parser/ws, send a file as
# an ArrayBuffer, read pages. ``rows``: the lines to upload; answers: the message that follows.
ARTICLE_CLIENT = """
async ([path, rows]) => {
  const ws = new WebSocket('ws://' + location.host + path);
  ws.binaryType = 'arraybuffer';
  const next = () => new Promise((resolve, reject) => {
    ws.onmessage = (evt) => resolve(JSON.parse(evt.data));
    ws.onclose = (evt) => reject(new Error('closed ' + evt.code));
  });
  const first = await next();
  ws.send(new TextEncoder().encode(rows).buffer);
  const answer = await next();
  ws.close();
  return [first, answer];
}
"""


async def test_the_articles_client_may_upload_again_after_a_reload(server, open_page):
    page = await open_page(f"{server.url}/parser/")  # any page of this server: same origin
    first, answer = await page.evaluate(ARTICLE_CLIENT, ["/parser/ws", "a\tb\n1\t2\n"])
    assert answer["total_number"] == 2 and "error" not in answer
    document_id = first["uuid"]
    await page.reload()  # the connection, and anything the page knew, is gone
    _, again = await page.evaluate(
        ARTICLE_CLIENT, [f"/parser/ws/{document_id}", "a\tb\n1\t2\n3\t4\n"]
    )
    assert "error" not in again, again
    assert again["total_number"] == 3  # its browser is still the document's editor
    # page scripts cannot read the key, and another person's browser only views
    assert "tablecast_edit" not in await page.evaluate("document.cookie")
    stranger = await open_page(f"{server.url}/parser/")
    _, refused = await stranger.evaluate(ARTICLE_CLIENT, [f"/parser/ws/{document_id}", "x\ty\n"])
    assert refused["error"]["code"] == "edit_key_required"
