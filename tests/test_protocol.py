"""Message shapes and page math, without sockets."""

from __future__ import annotations

import orjson
import pytest

from tablecast.errors import TablecastError
from tablecast.model import Document, Version, VersionMeta
from tablecast.table import paging
from tablecast.table.parsing import parse_header_option
from tablecast.wire import protocol


def version(records: int, has_header: bool = True, width: int = 2) -> Version:
    meta = VersionMeta("t.tsv", "utf-8", "\t", has_header, records, width, 10, ["a", "b"])
    return Version(1, "doc", 1, 0.0, meta)


def test_legacy_page_has_exactly_the_articles_keys():
    w = paging.page_window(version(3), 1, 100, paging.Numbering.RECORDS)
    message = orjson.loads(protocol.legacy_page("doc", w, b'[["a","b"],["1","2"],["3","4"]]'))
    assert message == {
        "uuid": "doc",
        "page_no": 1,
        "total_number": 3,
        "data": [["a", "b"], ["1", "2"], ["3", "4"]],
    }
    with_error = orjson.loads(
        protocol.legacy_page("doc", w, b"[]", TablecastError("bad_page", "no"))
    )
    assert with_error["error"] == {"code": "bad_page", "message": "no"}


def test_v1_page_carries_the_legacy_keys_and_more():
    document = Document("doc", 0.0, 1.5, 1, version(3))
    w = paging.page_window(document.version, 1, 100, paging.Numbering.ROWS)
    fields = protocol.document_fields(document)
    message = orjson.loads(protocol.v1_page(fields, w, b'[["1","2"]]', shared=True, cause="join"))
    assert message["type"] == "page"
    for key in (
        "uuid",
        "page_no",
        "total_number",
        "data",
        "version",
        "page_count",
        "page_size",
        "columns",
        "filename",
        "updated_at",
        "shared",
        "cause",
    ):
        assert key in message
    assert message["columns"] == ["a", "b"]
    assert message["updated_at"] == "1970-01-01T00:00:01.500Z"


def test_columns_are_numbered_past_the_header_and_without_one():
    assert version(3, width=4).columns == ["a", "b", "3", "4"]
    assert version(3, has_header=False, width=3).columns == ["1", "2", "3"]


@pytest.mark.parametrize("text", ["1", "42", " 7 ", "99999999999"])
def test_legacy_page_numbers(text):
    assert protocol.decode_legacy_text(text) == int(text)


@pytest.mark.parametrize(
    "text", ["abc", "-1", "0", "1.5", "1e309", "", "1_000", "+3", "3 4", "1" * 19, "٣"]
)
def test_bad_legacy_page_numbers(text):
    with pytest.raises(TablecastError) as err:
        protocol.decode_legacy_text(text)
    assert err.value.code == "bad_page"


def test_v1_messages():
    decode = protocol.decode_v1_text
    assert decode('{"type": "goto", "page": 3}') == protocol.Goto(3)
    assert decode('{"type": "follow", "follow": false}') == protocol.Follow(False)
    assert decode('{"type": "upload_end"}') == protocol.UploadEnd()
    assert decode('{"type": "upload_cancel"}') == protocol.UploadCancel()
    assert decode('{"type": "ping"}') == protocol.Ping()
    begin = decode(
        '{"type": "upload_begin", "filename": "C:\\\\tmp\\\\x.csv", "size": 10,'
        ' "header": false, "delimiter": "comma"}'
    )
    assert isinstance(begin, protocol.UploadBegin)
    assert (begin.filename, begin.size, begin.has_header) == ("x.csv", 10, False)
    assert begin.options.delimiter == ","


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "bad_message"),
        ("{", "bad_message"),
        ("[]", "bad_message"),
        ("3", "bad_message"),
        ('{"page": 3}', "unknown_type"),
        ('{"type": "nope"}', "unknown_type"),
        ('{"type": "goto"}', "bad_page"),
        ('{"type": "goto", "page": true}', "bad_page"),
        ('{"type": "goto", "page": 2.0}', "bad_page"),
        ('{"type": "follow", "follow": "yes"}', "bad_message"),
        ('{"type": "upload_begin", "size": -1}', "bad_message"),
        ('{"type": "upload_begin", "filename": 5}', "bad_message"),
        ('{"type": "upload_begin", "delimiter": ":"}', "bad_option"),
        ('{"type": "upload_begin", "encoding": "klingon"}', "bad_option"),
        ('{"type": "upload_begin", "header": 0}', "bad_message"),
    ],
)
def test_bad_v1_messages_are_typed_errors(text, code):
    with pytest.raises(TablecastError) as err:
        protocol.decode_v1_text(text)
    assert err.value.code == code


def test_filenames_are_cleaned():
    assert protocol.clean_filename("../../etc/passwd") == "passwd"
    assert protocol.clean_filename("a\x00b\nc.tsv") == "abc.tsv"
    assert len(protocol.clean_filename("x" * 1000)) == 255


def test_header_option():
    assert parse_header_option(None) is True
    assert parse_header_option("0") is False
    assert parse_header_option("true") is True
    with pytest.raises(TablecastError):
        parse_header_option("maybe")
