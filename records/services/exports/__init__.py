"""Spreadsheet exports: the view a person is looking at, as CSV or XLSX, in flat memory.

    records_view        the browser's filters, search and sort → queryset and columns
    stream_csv          CSV bytes straight from PostgreSQL (COPY … TO STDOUT), in chunks
    stream_csv_rows     the same for rows put together in Python (the changes page)
    export_csv          the same, into a file
    export_xlsx         an XLSX whose rows PostgreSQL writes, into a file
    export_job_create   an XLSX too large for a request, queued for a worker
    export_job_run      (a job) build and store it; its link expires after a while
    export_jobs_expire  (a periodic job) delete the files whose link has expired

Columns come from records/resources.py (RecordResource): every core field, then every
`extra` key of the organisation's Register, under headers the importer reads back; cells
hold each value's canonical text (records/fields.py), and text a spreadsheet would run as
a formula gets an apostrophe in front, which the importer removes again: exporting a
register and importing the file back changes nothing.

stream_csv and export_csv take any queryset and columns, for other pages' exports.
"""

from __future__ import annotations

from records.services.exports.columns import CellKind, Column, record_columns
from records.services.exports.csvfile import CONTENT_TYPE as CSV_CONTENT_TYPE
from records.services.exports.csvfile import export_csv, stream_csv, stream_csv_rows
from records.services.exports.jobs import (
    export_job_create,
    export_job_discard_file,
    export_job_expired,
    export_job_fail_if_dead,
    export_job_run,
    export_jobs_expire,
)
from records.services.exports.view import RecordsView, content_disposition, records_view
from records.services.exports.xlsxfile import CONTENT_TYPE as XLSX_CONTENT_TYPE
from records.services.exports.xlsxfile import TooManyRows, export_xlsx

__all__ = [
    "CSV_CONTENT_TYPE",
    "XLSX_CONTENT_TYPE",
    "CellKind",
    "Column",
    "RecordsView",
    "TooManyRows",
    "content_disposition",
    "export_csv",
    "export_job_create",
    "export_job_discard_file",
    "export_job_expired",
    "export_job_fail_if_dead",
    "export_job_run",
    "export_jobs_expire",
    "export_xlsx",
    "record_columns",
    "records_view",
    "stream_csv",
    "stream_csv_rows",
]
