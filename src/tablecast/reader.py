"""The reader process: a file that is not delimited text, read apart from the server.

Workbooks, Parquet, Arrow IPC and JSON are read by libraries whose memory and time the file
decides: calamine holds a sheet's cells as one dense rectangle (a sheet with a cell at A1 and
one at XFD1048576 is 17 billion cells), a Parquet page is inflated whole, a zip bomb inflates a
megabyte into gigabytes. Read in the server, one such file would take every viewer's memory
with it. So :mod:`tablecast.service.reading` runs this module as a process of its own, under
an address-space limit (``RLIMIT_AS``) and a CPU-time limit (``RLIMIT_CPU``): a file that needs
more fails alone, and the upload is refused with ``too_large``.

``python -m tablecast.reader [ARGS]``, ARGS one JSON object (without it, read as a line from
standard input once the libraries are imported: a process started ahead of the file):
``path``, ``kind`` (see tablecast.table.formats.sniff), ``sheet`` (the sheet to read, if the
workbook has it), ``max_columns``, ``max_chars`` (a cell's), ``memory`` (bytes) and ``cpu``
(seconds).

It writes to standard output one line, the table's head (tablecast.table.formats.Table.head),
then the table's records as they are stored, one per line; on failure, one line to standard
error, ``{"code": ..., "message": ...}``, and exits with status 1.
"""

from __future__ import annotations

import resource
import sys
import zipfile
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from .errors import TablecastError
from .table import formats
from .table.formats import RECORD_ROWS, Table
from .table.parsing import OLE2

# A workbook whose parts say they inflate to more than this is refused before it is read
# (a zip bomb that says so; one that lies meets the memory and time limits instead)
INFLATED_BYTES = 2 * 1024 * 1024 * 1024
PART_BYTES = 8 * 1024 * 1024  # cells of Parquet and Arrow turned into records at a time


def read(path: str, kind: str, sheet: str, max_columns: int, max_chars: int) -> Table:
    """The table in the file at ``path``, of ``kind``."""
    if kind == formats.PARQUET:
        return _parquet(path, max_columns, max_chars)
    if kind == formats.ARROW:
        return _arrow(path, max_columns, max_chars)
    if kind == formats.WORKBOOK:
        return _workbook(path, sheet, max_columns)
    if kind == formats.JSON:
        return _json(path, max_columns, max_chars)
    raise ValueError(kind)


def _parquet(path: str, max_columns: int, max_chars: int) -> Table:
    import pyarrow.parquet as pq  # (its import takes a tenth of a second workbooks need not)

    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise _unread("bad_parquet", "Parquet", err) from None
    header = formats.arrow_header(file.schema_arrow, max_columns)

    def batches() -> Iterator[Sequence[Sequence[str]] | bytes]:
        yield [header]
        try:
            for batch in file.iter_batches(batch_size=RECORD_ROWS):
                for part in _parts(batch):
                    yield formats.arrow_lines(part, max_chars)
        except (pa.ArrowException, OSError) as err:
            raise _unread("bad_parquet", "Parquet", err) from None

    return Table("parquet", len(header), batches(), header=True)


def _arrow(path: str, max_columns: int, max_chars: int) -> Table:
    source = pa.memory_map(path)
    try:
        try:
            file = pa.ipc.open_file(source)
            name = "arrow"
            read_batches: Iterator[pa.RecordBatch] = (
                file.get_batch(i) for i in range(file.num_record_batches)
            )
            schema = file.schema
        except pa.ArrowInvalid:
            source.seek(0)
            stream = pa.ipc.open_stream(source)
            name, read_batches, schema = "arrows", iter(stream), stream.schema
    except (pa.ArrowException, OSError) as err:
        raise _unread("bad_arrow", "Arrow", err) from None
    header = formats.arrow_header(schema, max_columns)

    def batches() -> Iterator[Sequence[Sequence[str]] | bytes]:
        yield [header]
        try:
            for batch in read_batches:
                for part in _parts(batch):
                    yield formats.arrow_lines(part, max_chars)
        except (pa.ArrowException, OSError) as err:
            raise _unread("bad_arrow", "Arrow", err) from None

    return Table(name, len(header), batches(), header=True)


def _parts(batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
    """A batch a few thousand rows or PART_BYTES at a time, whichever is less: its cells are
    copied three times on their way out (as Python strings, as JSON, joined)."""
    rows = min(RECORD_ROWS, max(1, batch.num_rows * PART_BYTES // max(batch.nbytes, 1)))
    for start in range(0, batch.num_rows, rows):
        yield batch.slice(start, rows)


def _unread(code: str, kind: str, err: Exception) -> Exception:
    """Arrow's error as the upload's: out of memory is the reader's limit (see main)."""
    # (out of memory is not always ArrowMemoryError: a Parquet page's buffer says "realloc of
    # size N failed" in an OSError)
    if isinstance(err, pa.ArrowMemoryError) or "alloc" in str(err):
        return MemoryError()
    return TablecastError(code, f"the {kind} file cannot be read: {err}")


def _workbook(path: str, sheet: str, max_columns: int) -> Table:
    name = _workbook_format(path)
    try:
        workbook = CalamineWorkbook.from_path(path)
        sheets = [
            meta.name for meta in workbook.sheets_metadata if meta.typ == SheetTypeEnum.WorkSheet
        ]
        visible = [
            meta.name
            for meta in workbook.sheets_metadata
            if meta.typ == SheetTypeEnum.WorkSheet and meta.visible == SheetVisibleEnum.Visible
        ]
        if not sheets:
            raise TablecastError("not_a_table", "the workbook has no worksheet")
        chosen = sheet if sheet in sheets else (visible or sheets)[0]
        cells = workbook.get_sheet_by_name(chosen)
        merged = cells.merged_cell_ranges or []
        # iter_rows gives every row from the sheet's first, but the cells from the first
        # column with a value (as `width` counts them): where merged ranges are counted from
        first = next(cells.iter_rows(), [])
        left = (cells.start or (0, 0))[1] if len(first) == cells.width else 0
        width, rows = formats.sheet_rows(cells.iter_rows, merged, (0, left), max_columns)
    except TablecastError:
        raise
    except BaseException as err:  # calamine's errors, and its panics (not Exceptions)
        raise _workbook_error(err) from None

    def batches() -> Iterator[Sequence[Sequence[str]] | bytes]:
        try:
            while batch := list(islice(rows, RECORD_ROWS)):
                yield batch
        except TablecastError:
            raise
        except BaseException as err:
            raise _workbook_error(err) from None

    return Table(name, width, batches(), sheet=chosen, sheets=sheets)


def _workbook_format(path: str) -> str:
    """Which workbook format the file is, refusing an encrypted one and a zip that says it
    inflates to more than INFLATED_BYTES."""
    with open(path, "rb") as file:
        head = file.read(65536)
    if head.startswith(OLE2):
        if formats.ENCRYPTED_PACKAGE in head:
            raise _encrypted()
        return "xls"
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = {info.filename for info in infos}
            inflated = sum(info.file_size for info in infos)
            if inflated > INFLATED_BYTES:
                raise TablecastError(
                    "too_large",
                    f"the workbook inflates to {inflated} bytes: more than the"
                    f" {INFLATED_BYTES} tablecast reads",
                )
            if "mimetype" in names:
                return "ods"
            if "xl/workbook.bin" in names:
                return "xlsb"
            types = archive.read("[Content_Types].xml") if "[Content_Types].xml" in names else b""
            return "xlsm" if b"macroEnabled" in types else "xlsx"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as err:
        raise _damaged(err) from None


def _encrypted() -> TablecastError:
    return TablecastError(
        "encrypted_workbook",
        "the workbook is protected by a password: save a copy without one and upload that",
    )


def _workbook_error(err: BaseException) -> TablecastError:
    if isinstance(err, MemoryError):
        raise err
    if type(err).__name__ == "PasswordError":
        return _encrypted()
    return _damaged(err)


def _damaged(err: BaseException) -> TablecastError:
    return TablecastError(
        "bad_workbook",
        f"the workbook cannot be read ({err}): open it in a spreadsheet and save it again",
    )


def _json(path: str, max_columns: int, max_chars: int) -> Table:
    with open(path, "rb") as file:
        head = file.read(formats.JSON_PIECE_BYTES).removeprefix(b"\xef\xbb\xbf").lstrip()
    name = "jsonl" if _lines(head) else "json"
    read_values = formats.json_lines if name == "jsonl" else formats.json_array

    def values() -> Iterator[list[Any]]:
        with open(path, "rb") as file:
            yield from read_values(file.read)

    columns = formats.JsonColumns(max_columns)
    for rows in values():
        columns.add(rows)
    if columns.objects is None:
        raise TablecastError("empty_file", "the JSON holds no rows")
    columns.check()
    header = columns.header()

    def batches() -> Iterator[Sequence[Sequence[str]] | bytes]:
        if header is not None:
            yield [header]
        for rows in values():
            for start in range(0, len(rows), RECORD_ROWS):
                yield columns.rows(rows[start : start + RECORD_ROWS], max_chars)

    return Table(name, columns.width, batches(), ragged=columns.ragged, header=header is not None)


def _lines(head: bytes) -> bool:
    """Whether JSON starting ``head`` is JSON Lines: its first line one whole row (an object,
    or an array of single values), not the start of a document."""
    try:
        first = orjson.loads(head.split(b"\n", 1)[0])
    except orjson.JSONDecodeError:
        return False
    if isinstance(first, dict):
        return True
    return (
        bool(first)
        and isinstance(first, list)
        and not any(isinstance(v, dict | list) for v in first)
    )


class _WithoutPandas:
    """pyarrow imports pandas, when it is installed, the first time it is handed Python values
    (to ask whether they are pandas'): a fifth of a second of a reader's life, for nothing it
    uses. In the reader process, pandas is not there."""

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name == "pandas":
            raise ModuleNotFoundError("not in the reader process", name=name)


def _limit(memory: int, cpu: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))


def _fail(code: str, message: str) -> int:
    sys.stderr.buffer.write(orjson.dumps({"code": code, "message": message}) + b"\n")
    sys.stderr.flush()
    return 1


def main(argv: list[str]) -> int:
    sys.meta_path.insert(0, _WithoutPandas())
    args = orjson.loads(argv[0] if argv else sys.stdin.buffer.readline())
    # Arrow's own allocator (jemalloc or mimalloc) reserves far more address space than it
    # uses, which RLIMIT_AS counts: the system's keeps the limit a limit on memory
    pa.set_memory_pool(pa.system_memory_pool())
    _limit(args["memory"], args["cpu"])
    out: BinaryIO = sys.stdout.buffer
    try:
        table = read(args["path"], args["kind"], args["sheet"], args["max_columns"],
                     args["max_chars"])  # fmt: skip
        out.write(orjson.dumps(table.head(), option=orjson.OPT_APPEND_NEWLINE))
        for rows in table.batches:
            out.write(rows if isinstance(rows, bytes) else formats.record_lines(rows))
        out.flush()
    except TablecastError as err:
        return _fail(err.code, err.message)
    except MemoryError:
        return _fail("too_large", too_large(args["memory"], args["cpu"]))
    except BrokenPipeError:  # the server stopped listening: the upload was rolled back
        return 1
    return 0


def too_large(memory: int, cpu: int) -> str:
    """What a file that needs more than the reader process may take is told."""
    return (
        f"the file needs more than {memory // 2**20} MiB of memory or {cpu} s to read:"
        " it is too large to read here (or damaged); a CSV or Parquet export of it may do"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
