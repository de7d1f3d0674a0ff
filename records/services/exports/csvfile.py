"""CSV straight from PostgreSQL: `COPY (SELECT …) TO STDOUT WITH (FORMAT csv)`, in chunks.

PostgreSQL writes every row's bytes (quoting, escaping and all); Python only gathers
them into chunks of about 64 KB and passes them on, so memory stays flat however many
rows match, and the header goes out before the first row is read.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO

from django.db import connections
from django.db.models import QuerySet

from records.services.exports.columns import Column, cells_sql
from records.spreadsheets.formulas import escape_formula

# Excel reads a CSV as UTF-8 only when it starts with a byte order mark; the importer
# skips it.
BOM = codecs.BOM_UTF8
CHUNK_BYTES = 64 * 1024
CONTENT_TYPE = "text/csv; charset=utf-8"

Progress = Callable[[int], None]


def stream_csv(
    *, queryset: QuerySet, columns: Sequence[Column], progress: Progress | None = None
) -> Iterator[bytes]:
    """Yield a CSV of the queryset: the BOM and the header at once, then the rows in chunks.

    `progress`, if given, is called with the number of rows written so far, once a chunk.
    Works for any queryset and columns, e.g. a page of history:

        columns = [
            Column("when", F("history_date"), CellKind.DATETIME),
            Column("reference", F("reference")),
            Column("reason", F("history_change_reason")),
        ]
        StreamingHttpResponse(stream_csv(queryset=changes, columns=columns), …)

    Text is escaped against formulas; the queryset's filters and ORDER BY are kept.
    """
    yield BOM + header_line(columns)
    sql = cells_sql(queryset, columns, dates_as_text=True)
    copy_sql = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)"
    # Django's cursor, on the connection the queryset reads from; the COPY's own
    # cursor is psycopg's, underneath it. Closed as the generator ends, however it ends.
    with connections[queryset.db].cursor() as cursor, cursor.cursor.copy(copy_sql) as copy:
        chunk: list = []
        size = rows = 0
        # Each item is one row (one CopyData message) as PostgreSQL wrote it.
        for data in copy:
            chunk.append(data)
            size += len(data)
            rows += 1
            if size >= CHUNK_BYTES:
                yield b"".join(chunk)
                chunk.clear()
                size = 0
                if progress is not None:
                    progress(rows)
        if chunk:
            yield b"".join(chunk)
        if progress is not None:
            progress(rows)


def export_csv(
    *,
    queryset: QuerySet,
    columns: Sequence[Column],
    out: BinaryIO,
    progress: Progress | None = None,
) -> int:
    """Write the CSV of a queryset to a binary file; return the number of rows written."""
    written = 0

    def counted(rows: int) -> None:
        nonlocal written
        written = rows
        if progress is not None:
            progress(rows)

    for chunk in stream_csv(queryset=queryset, columns=columns, progress=counted):
        out.write(chunk)
    return written


def header_line(columns: Sequence[Column]) -> bytes:
    """The header row, every name quoted.

    Quoted so that a delimiter-like character in a name (an extra column "a;b") cannot
    make the importer's delimiter sniffing, which counts delimiters outside quotes in
    the first line, take it for the delimiter.
    """
    text = io.StringIO()
    csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(
        [column.header for column in columns]
    )
    return text.getvalue().encode()


def stream_csv_rows(*, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[bytes]:
    """Yield a CSV of rows computed in Python, the way stream_csv yields one from SQL.

    The same BOM, the same chunks of about 64 KB, and every cell escaped against formulas
    as the export escapes them (and the importer undoes), for pages whose rows need Python
    to put together (the changes page's one line per field changed).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    yield BOM + buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    for row in rows:
        writer.writerow([escape_formula("" if cell is None else str(cell)) for cell in row])
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()
