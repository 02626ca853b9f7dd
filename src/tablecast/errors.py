"""Typed errors: every failure a user can meet has a stable code, a plain message, an HTTP status.

The same codes travel over HTTP (``{"error": {"code", "message"}}``) and over WebSocket
(``{"type": "error", "code", "message"}``); docs/protocol.md lists them.
"""

from __future__ import annotations

# code -> HTTP status. Codes are part of the public contract: add, never rename.
STATUS: dict[str, int] = {
    # the file
    "not_text": 400,  # binary data (NUL bytes) where a text table was expected
    "unsupported_format": 415,  # a file of a kind tablecast does not read
    "bad_workbook": 400,  # a workbook (xlsx, xls, ods...) that is damaged or cannot be read
    "encrypted_workbook": 400,  # a workbook protected by a password
    "bad_parquet": 400,  # a Parquet file that cannot be read
    "bad_arrow": 400,  # an Arrow IPC file or stream that cannot be read
    "bad_json": 400,  # JSON that is not valid
    "not_a_table": 400,  # a file that reads but holds no table (nested columns, a JSON object)
    "empty_file": 400,  # no records at all
    "bad_table": 400,  # the text could not be read as a table
    "cell_too_large": 400,  # one cell longer than the parser accepts
    "too_many_columns": 400,  # a record with more cells than the parser accepts
    # an upload option (delimiter, header, encoding) that makes no sense, or an encoding
    # the file cannot be read in
    "bad_option": 400,
    "too_large": 413,  # the upload is over the size limit
    # the request
    "bad_message": 400,  # a WebSocket message that is not valid JSON / not an object
    "unknown_type": 400,  # a v1 message with a type the server does not know
    "bad_page": 400,  # a page number that is not a positive integer
    "message_too_large": 413,  # a WebSocket message over the message limit
    "no_upload": 409,  # an upload chunk, end or cancel with no upload begun
    "upload_in_progress": 409,  # a second upload begun on the same connection
    "upload_size_mismatch": 400,  # the bytes sent do not add up to the size announced
    "bad_request": 400,  # an HTTP request the API cannot read
    "method_not_allowed": 405,
    "not_acceptable": 406,  # a download whose Accept names no format tablecast writes
    "rate_limited": 429,  # page requests faster than --page-rate, new documents faster
    # than --create-rate, or wrong edit keys faster than --page-rate from one address
    "too_many_uploads": 429,  # unfinished uploads hold what they may (--max-uploading-bytes*)
    "upload_timeout": 408,  # an upload idle past --upload-idle-timeout or --upload-timeout
    "too_many_connections": 429,  # one address holds --max-connections-per-ip WebSockets
    "origin_not_allowed": 403,  # a WebSocket opened by a page on another site
    # who may change a document
    "edit_key_required": 401,  # an upload or shared page turn without the edit key
    "wrong_edit_key": 403,  # an edit key that does not open this document
    # the document
    "not_found": 404,  # no such document
    "page_not_found": 404,  # no such page in the document
    "version_not_found": 404,  # no such version of the document
    "row_not_found": 404,  # a row to change past the table's end, or deleted since
    "edit_conflict": 409,  # keys found, the table changed before the change: again and again
    "original_not_kept": 404,  # uploaded before original files were kept, or rows added to
    # the server
    "storage_full": 507,  # no room for another document or this upload, all in use
    "shutting_down": 503,
    "store_unavailable": 503,  # the shared store (PostgreSQL) cannot be reached just now
    "internal": 500,
}


class TablecastError(Exception):
    """An error with a stable ``code`` and a message meant for the person who caused it."""

    def __init__(self, code: str, message: str) -> None:
        if code not in STATUS:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return STATUS[self.code]

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    def __repr__(self) -> str:
        return f"TablecastError({self.code!r}, {self.message!r})"


class DiskFull(TablecastError):
    """``storage_full`` because the disk that holds the store is full, not a limit the
    operator set: nothing can be written until room is made."""

    def __init__(self) -> None:
        super().__init__(
            "storage_full", "the server's disk is full: nothing can be saved until room is made"
        )
