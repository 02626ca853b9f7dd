"""An upload's file, kept to download byte for byte without storing most of it twice. Pure.

Most tables people upload are UTF-8 with no quotes, one line break throughout and no blank
lines. Each of their records is its line with the delimiter replaced by ``","`` (the parser's
plain lane), so the records already stored give the file back exactly: keeping the file's bytes
as well would double what an upload writes, and its time. The parser follows, as it goes, how
much of the file its records give back (:class:`Rebuilt`); the upload keeps only the bytes past
that point. A download streams the rebuilt part from the records, then the kept bytes.

What stops the rebuilding, for the rest of the file: a record read by ``csv.reader`` (quotes,
or what JSON escapes), a blank line (not a record), line breaks of two kinds, a byte that is
not UTF-8 (read as cp1252), any encoding other than UTF-8, or one the uploader named.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from .export import plain_lines


@dataclass
class Rebuilt:
    """The start of the file that records ``0 .. record_count - 1`` give back: ``bom``, then each
    record with ``","`` read as ``delimiter``, encoded in UTF-8, each ended by ``eol`` (the
    last only if ``last_eol``). ``end``: where in the file's bytes that start ends."""

    record_count: int = 0
    end: int = 0
    delimiter: str = "\t"
    eol: str | None = None  # None: no line break seen yet
    bom: bytes = b""
    last_eol: bool = True
    going: bool = True  # False once the file holds something records do not give back

    def stop(self) -> None:
        self.going = False

    def encode(self) -> bytes:
        """As stored, in place of the bytes it stands for."""
        return orjson.dumps(
            {
                "records": self.record_count,  # as stored: the key stays
                "end": self.end,
                "delimiter": self.delimiter,
                "eol": self.eol or "\n",
                "bom": self.bom.hex(),
                "last_eol": self.last_eol,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> Rebuilt:
        fields = orjson.loads(data)
        return cls(
            record_count=fields["records"],
            end=fields["end"],
            delimiter=fields["delimiter"],
            eol=fields["eol"],
            bom=bytes.fromhex(fields["bom"]),
            last_eol=fields["last_eol"],
            going=False,
        )

    def text(self, data: bytes, last: bool) -> bytes:
        """Records as the store gives them (one JSON array, see Pages.records_json) as the
        file's bytes. ``last``: they end the rebuilt part."""
        if data == b"[]":
            return b""
        eol = (self.eol or "\n").encode()
        text = plain_lines(data, self.delimiter.encode(), eol)  # no quote in any cell
        return text + eol if self.last_eol or not last else text


def line_break(text: str) -> str | None:
    """The line break ``text`` uses throughout: LF, CRLF or CR; None if it has no line break,
    ``""`` if it mixes them."""
    if "\r" not in text:
        return "\n" if "\n" in text else None
    lf = text.count("\n")
    if lf == 0:
        return "\r"
    if text.count("\r") == lf == text.count("\r\n"):
        return "\r\n"
    return ""


Part = bytes | Rebuilt  # a part of an original file, as stored: its bytes, or how to rebuild them
