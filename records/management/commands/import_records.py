"""manage.py import_records: the web's import pipeline, in the foreground."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.access import resolve_membership
from accounts.models import Role, User
from records.models import Channel, ImportRun
from records.services import imports
from records.services.imports.rows import EXTRA_PREFIX
from records.spreadsheets import SpreadsheetError

Status = ImportRun.Status


class Command(BaseCommand):
    help = (
        "Import a CSV or XLSX file into an organisation's register, as the web does: check "
        "every row, then apply it all in one transaction (or, with --dry-run, only check). "
        "Exits non-zero, having changed nothing, if the file or any row is invalid (unless "
        "--skip-invalid)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV or XLSX file.")
        parser.add_argument("--org", required=True, help="Organisation slug.")
        parser.add_argument("--user", required=True, help="Username of the editor importing.")
        parser.add_argument("--reason", required=True, help="Why: kept with every change.")
        parser.add_argument("--dry-run", action="store_true", help="Check only; change nothing.")
        parser.add_argument(
            "--full-refresh",
            action="store_true",
            help="Mark records missing from the file removed.",
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the valid rows and skip the invalid ones.",
        )
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="COLUMN=FIELD",
            help="Map a file column to a field, 'extra', 'extra:KEY' or 'ignore'. "
            "Repeat for several.",
        )
        parser.add_argument("--format", choices=["csv", "xlsx"], help="Do not detect the format.")
        parser.add_argument("--encoding", help="CSV encoding, e.g. utf-8, cp1252, latin-1.")
        parser.add_argument("--delimiter", help="CSV delimiter, e.g. ';' or '\\t'.")
        parser.add_argument("--sheet", help="XLSX sheet (default: the first).")

    def handle(self, *args, **options) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        user = self._editor(options["user"], options["org"])
        membership = resolve_membership(user, options["org"])
        read = {key: options[key] for key in ("format", "encoding", "sheet") if options[key]}
        if options["delimiter"]:
            read["delimiter"] = options["delimiter"].replace("\\t", "\t")

        with path.open("rb") as handle:
            try:
                run = imports.import_create(
                    organisation=membership.organisation,
                    user=user,
                    file=File(handle, name=path.name),
                    filename=path.name,
                    options=read,
                    channel=Channel.CLI,
                    defer=False,
                )
            except SpreadsheetError as error:
                raise CommandError(str(error)) from None
        self.stdout.write(f"Import #{run.pk} of {path.name} into {membership.organisation.slug}.")
        if options["map"]:
            run = self._map(run, options["map"])
        if run.status == Status.MAPPING:
            raise CommandError(f"{run.error} Use --map COLUMN=reference.")

        run = imports.import_preview(run=run, echo=self._bar("Checking"))
        self._end_bar()
        if run.status != Status.PREVIEWED:
            raise CommandError(run.error)
        self._report(run)
        if run.counts.get("invalid") and not options["skip_invalid"]:
            raise CommandError(
                f"{run.counts['invalid']:,} rows are invalid; nothing was changed. Fix the file, "
                "or use --skip-invalid."
            )
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was changed.")
            return
        mode = ImportRun.Mode.FULL_REFRESH if options["full_refresh"] else ImportRun.Mode.UPSERT
        try:
            run = imports.import_confirm(
                run=run,
                reason=options["reason"],
                mode=mode,
                skip_invalid=options["skip_invalid"],
                by=user,
                defer=False,
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        run = imports.import_apply(run=run, echo=self._bar("Applying"))
        self._end_bar()
        if run.status != Status.APPLIED:
            raise CommandError(run.error)
        counts = run.counts
        self.stdout.write(
            self.style.SUCCESS(
                f"Applied in {counts['seconds']} s: {counts['new']:,} new, {counts['changed']:,} "
                f"changed, {counts['conflicting']:,} with conflicts, {counts['unchanged']:,} "
                f"unchanged, {counts.get('removed', 0):,} marked removed."
            )
        )

    def _editor(self, username: str, org: str) -> User:
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        try:
            membership = resolve_membership(user, org)
        except Exception:  # Http404: not a member, or no such organisation
            raise CommandError(f"{username} is not a member of an organisation {org!r}.") from None
        if not membership.has_role(Role.EDITOR):
            raise CommandError(
                f"{username} is a {membership.get_role_display().lower()} of {org}; "
                "importing needs an editor."
            )
        return user

    def _map(self, run: ImportRun, pairs: list[str]) -> ImportRun:
        columns = imports.run_columns(run)
        choices = dict(zip(columns.headers, columns.targets, strict=True))
        for pair in pairs:
            column, sep, target = pair.partition("=")
            if not sep or column not in choices:
                raise CommandError(
                    f"--map {pair}: the file has no column {column!r} "
                    f"(its columns: {', '.join(columns.headers)})."
                )
            target = target.strip()
            if target == "ignore":
                target = ""
            elif target == "extra":
                target = EXTRA_PREFIX + column
            choices[column] = target
        try:
            return imports.import_set_columns(run=run, choices=choices, defer=False)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None

    def _report(self, run: ImportRun) -> None:
        counts = run.counts
        self.stdout.write(
            f"{counts['rows']:,} rows: {counts['new']:,} new, {counts['changed']:,} changed, "
            f"{counts['conflicting']:,} conflicting, {counts['unchanged']:,} unchanged, "
            f"{counts['invalid']:,} invalid."
        )
        for issue in run.issues.order_by("row", "id")[:20]:
            where = f"row {issue.row}" + (f", {issue.column}" if issue.column else "")
            self.stderr.write(f"  {where}: {issue.message}")
        if counts.get("issues", 0) > 20:
            self.stderr.write(f"  … and {counts['issues'] - 20:,} more problems.")

    def _bar(self, label: str):
        interactive = sys.stderr.isatty()

        def draw(phase: str, percent: float, processed: int | None) -> None:
            if not interactive:
                return
            filled = int(30 * percent / 100)
            rows = f" {processed:,} rows" if processed else ""
            sys.stderr.write(
                f"\r{label}: [{'#' * filled}{'.' * (30 - filled)}] {int(percent):3d}% "
                f"{phase[:40]:<40}{rows}"
            )
            sys.stderr.flush()

        return draw

    def _end_bar(self) -> None:
        if sys.stderr.isatty():
            sys.stderr.write("\n")
