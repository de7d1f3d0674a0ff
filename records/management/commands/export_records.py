"""manage.py export_records: an organisation's records, as the browser shows them, to a file."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import QueryDict

from accounts.models import Organisation
from records.services import exports
from records.services.exports.xlsxfile import MAX_ROWS

log = logging.getLogger(__name__)

FORMATS = ("csv", "xlsx")


class Command(BaseCommand):
    help = (
        "Write an organisation's records as CSV or XLSX: the same columns, escaping and "
        "order as the records browser's Download buttons. --filter takes the browser's "
        "filters (q, status, category, region, income_min, income_max, registered_on_after, "
        "registered_on_before, amended, conflicts), as in its URLs; --sort its sortable "
        "columns. A progress bar goes to stderr."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="The organisation's slug.")
        parser.add_argument(
            "--format",
            dest="file_format",
            choices=FORMATS,
            help="csv or xlsx (default: from the file's name).",
        )
        parser.add_argument(
            "-o",
            "--output",
            required=True,
            help="The file to write; '-' writes CSV to standard output.",
        )
        parser.add_argument(
            "--filter",
            dest="filters",
            action="append",
            default=[],
            metavar="FIELD=VALUE",
            help="A filter of the records browser, e.g. status=registered, q=oxford, "
            "income_min=1000, registered_on_after=2020-01-01, amended=yes. Repeatable.",
        )
        parser.add_argument(
            "--sort",
            help="Sort by reference, name, income or registered_on; --sort=-income for "
            "largest first (default: by name).",
        )

    def handle(
        self,
        *args,
        org: str,
        file_format: str | None,
        output: str,
        filters: list[str],
        sort: str | None,
        verbosity: int = 1,
        **options,
    ) -> None:
        organisation = Organisation.objects.filter(slug=org).first()
        if organisation is None:
            raise CommandError(f"No organisation with the slug “{org}”.")
        fmt = file_format or ("csv" if output == "-" else Path(output).suffix.lower()[1:])
        if fmt not in FORMATS:
            raise CommandError("Say --format csv or xlsx (or name the file .csv or .xlsx).")
        if output == "-" and fmt != "csv":
            raise CommandError("Only CSV can go to standard output; give XLSX a file name.")

        params = _params(filters, sort)
        try:
            view = exports.records_view(organisation=organisation, params=params, strict=True)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        # A full count, for the progress bar (and XLSX's limit): one scan more.
        total = view.queryset.count()
        if fmt == "xlsx" and total + 1 > MAX_ROWS:
            raise CommandError(
                f"{total:,} records do not fit in one Excel sheet ({MAX_ROWS - 1:,} at most): "
                "filter them, or export CSV."
            )
        progress = self._progress(total) if verbosity >= 1 else None
        started = time.monotonic()
        export = exports.export_csv if fmt == "csv" else exports.export_xlsx
        if output == "-":
            out = sys.stdout.buffer
            rows = export(queryset=view.queryset, columns=view.columns, out=out, progress=progress)
        else:
            rows = self._write_file(export, view, Path(output), progress)
        if progress is not None:
            self.stderr.write("")
        elapsed = time.monotonic() - started
        log.info("Exported %s records of %s (%s) as %s", rows, org, view.description, fmt)
        if output != "-" and verbosity >= 1:
            size = Path(output).stat().st_size
            self.stdout.write(
                f"Wrote {rows:,} records ({view.description}) to {output} "
                f"({size / 1024 / 1024:.1f} MB) in {elapsed:.1f}s."
            )

    def _write_file(self, export, view: exports.RecordsView, path: Path, progress) -> int:
        """Write next to the file and rename it into place: never half a file under its name."""
        partial = path.with_name(path.name + ".partial")
        try:
            with partial.open("wb") as out:
                rows = export(
                    queryset=view.queryset, columns=view.columns, out=out, progress=progress
                )
            os.replace(partial, path)
        except OSError as error:
            partial.unlink(missing_ok=True)
            raise CommandError(f"Cannot write {path}: {error.strerror or error}.") from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return rows

    def _progress(self, total: int):
        last = 0.0

        def report(done: int) -> None:
            nonlocal last
            now = time.monotonic()
            if done < total and now - last < 0.2:
                return
            last = now
            width = 30
            filled = int(width * done / total) if total else width
            self.stderr.write(
                f"\r  exporting [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}",
                ending="",
            )
            self.stderr.flush()

        return report


def _params(filters: list[str], sort: str | None) -> QueryDict:
    params = QueryDict(mutable=True)
    for item in filters:
        field, equals, value = item.partition("=")
        if not equals or not field.strip():
            raise CommandError(f"--filter wants FIELD=VALUE, like status=registered, not “{item}”.")
        params.appendlist(field.strip(), value)
    if sort:
        params["sort"] = sort
    return params
