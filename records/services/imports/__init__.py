"""Spreadsheet imports: one pipeline for the web, the command line, the admin and any API.

    import_create   store the file and propose a column map (or say why the file is bad)
    import_set_columns   a person's column map; starts the preview
    import_preview  (a job) parse, validate and compare every row; write nothing to records
    import_confirm  a reason and a mode; queues the apply
    import_apply    (a job) apply it all in one transaction, or nothing
    import_cancel   discard a run that was not applied

A file-level problem (not a spreadsheet, bad encoding, a ragged row) stops the run with
a clear message. Row-level problems are issues, each with its row and column; any
issue blocks the apply unless the person chose to skip invalid rows.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import shutil
import tempfile
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.models import Organisation
from records.models import Changeset, Channel, ImportRun
from records.selectors import register_for
from records.services.audit import audited
from records.services.imports import pipeline
from records.services.imports.mapping import (
    columns_from_choices,
    problems,
    remember,
    suggest_columns,
)
from records.services.imports.progress import HEARTBEAT_SECONDS, Progress
from records.services.imports.rows import ColumnMap
from records.services.register import add_extra_columns, locked_register
from records.spreadsheets import ReadOptions, Sheet, SpreadsheetError, open_spreadsheet

log = logging.getLogger(__name__)

# A running job that has not reported for this long has died (its worker was killed,
# its machine lost); its transaction was rolled back with its connection.
DEAD_AFTER = dt.timedelta(seconds=max(30, 15 * HEARTBEAT_SECONDS))

# The rows a preview staged are kept this long for its apply (which, after that, reads
# the file again).
KEEP_STAGED_FOR = dt.timedelta(days=7)

# Advisory locks: (class, organisation id). One import applies at a time per organisation.
IMPORT_LOCK_CLASS = 7401

Status = ImportRun.Status


def _read_options(options: dict) -> ReadOptions:
    return ReadOptions(
        format=options.get("format") or None,
        encoding=options.get("encoding") or None,
        delimiter=options.get("delimiter") or None,
        sheet=options.get("sheet") or None,
    )


def open_sheet(file, *, filename: str, options: dict) -> Sheet:
    """Open an uploaded or stored file as a spreadsheet, within the configured limits."""
    return open_spreadsheet(
        file,
        filename=filename,
        options=_read_options(options),
        max_bytes=settings.IMPORT_MAX_UPLOAD_BYTES,
        max_uncompressed_bytes=settings.IMPORT_MAX_XLSX_UNCOMPRESSED_BYTES,
    )


def _sheet_details(sheet: Sheet) -> dict:
    return {
        "format": sheet.format,
        "encoding": sheet.encoding,
        "delimiter": sheet.delimiter,
        "sheet": sheet.sheet_name,
        "sheet_names": sheet.sheet_names,
        "notes": sheet.notes,
    }


def import_create(
    *,
    organisation: Organisation,
    user,
    file: File,
    filename: str,
    options: dict | None = None,
    channel: Channel = Channel.WEB,
    defer: bool = True,
) -> ImportRun:
    """Check the file, store it with a new run, and start the preview (unless columns are unclear).

    Raises SpreadsheetError, having stored nothing, if the file cannot be read as a
    spreadsheet at all.
    """
    options = dict(options or {})
    file.seek(0)
    with open_sheet(file, filename=filename, options=options) as sheet:
        # The first rows, to show beside the columns when a person maps them.
        head = [
            [_display(cell) for cell in cells] for _, cells in itertools.islice(sheet.rows(), 3)
        ]
        if not head:
            raise SpreadsheetError("The file has a header row but no data rows.")
        details = _sheet_details(sheet)
        headers = list(sheet.headers)
    register = register_for(organisation)
    columns = suggest_columns(headers, register.column_map)
    with transaction.atomic():
        run = ImportRun(
            organisation=organisation,
            created_by=user,
            channel=channel,
            filename=filename[:255],
            file_size=file.size,
            options={**options, **details},
            column_map=columns.as_pairs(),
            status=Status.MAPPING if problems(columns) else Status.PREVIEWING,
            error=" ".join(problems(columns)),
            samples={"head": head},
        )
        file.seek(0)
        run.file.save(filename, file, save=False)
        run.save()
        if run.status == Status.PREVIEWING and defer:
            _defer("preview", run)
    log.info("Import #%s of %s (%s) created by %s", run.pk, filename, organisation.slug, user)
    return run


def _display(cell) -> str:
    text = str(cell) if cell is not None else ""
    return text if len(text) <= 60 else text[:59] + "…"


def run_columns(run: ImportRun) -> ColumnMap:
    return ColumnMap.from_pairs(run.column_map)


def import_set_columns(*, run: ImportRun, choices: dict[str, str], defer: bool = True) -> ImportRun:
    """Use a person's column map and check the file again; raise ValidationError if unusable."""
    if run.status not in (Status.MAPPING, Status.PREVIEWED, Status.INVALID):
        raise ValidationError("This import is past choosing columns.")
    columns = columns_from_choices(run_columns(run).headers, choices)
    with transaction.atomic():
        # Remembered now, not at apply: the next file with these headers starts from them.
        register = locked_register(run.organisation_id)
        register.column_map = remember(register.column_map, columns)
        register.save(update_fields=["column_map"])
        run = ImportRun.objects.select_for_update().get(pk=run.pk)
        run.column_map = columns.as_pairs()
        run.status = Status.PREVIEWING
        run.error = ""
        run.counts, run.samples = {}, {"head": run.samples.get("head", [])}
        run.progress, run.processed_rows, run.total_rows = 0, 0, None
        run.issues.all().delete()
        run.save()
        if defer:
            _defer("preview", run)
    return run


def import_preview(*, run: ImportRun, echo=None) -> ImportRun:
    """Parse, validate and compare every row; record counts, samples and issues."""
    run.refresh_from_db()
    if run.status != Status.PREVIEWING:
        return run
    sql = pipeline.ImportSQL(run_columns(run), organisation_id=run.organisation_id)
    started = time.monotonic()
    with Progress("records_importrun", run.pk, echo=echo) as progress:
        try:
            with transaction.atomic():
                run.issues.all().delete()
                staged, counts, samples = _stage_and_plan(run, sql, progress, preview=True)
                absent, absent_conflicts = pipeline.count_absent(sql)
                pipeline.drop_temp()
                run.counts = {
                    **counts,
                    "absent": absent,
                    "absent_conflicts": absent_conflicts,
                    "seconds": round(time.monotonic() - started, 2),
                }
                run.samples = {**samples, "head": run.samples.get("head", [])}
                run.total_rows = staged.rows
                run.processed_rows = staged.rows
                run.status = Status.PREVIEWED
                run.progress = 100
                run.phase = "Checked"
                run.save()
        except SpreadsheetError as error:
            return _stop(run, Status.INVALID, str(error))
        except Exception:
            log.exception("Preview of import #%s failed", run.pk)
            return _stop(
                run, Status.INVALID, "Checking the file failed unexpectedly; nothing was changed."
            )
    return run


def _stage_and_plan(run: ImportRun, sql: pipeline.ImportSQL, progress: Progress, *, preview: bool):
    """Stage the file and plan it; return (staged, counts, samples).

    The preview reads the file, and keeps what it staged for the apply, which reads the
    file again only if that is gone or out of date (pipeline.restore_staged).
    """
    staged = None if preview else pipeline.restore_staged(sql, run.pk)
    restored = staged is not None
    if restored:
        progress.report(
            "Taking the rows checked in the preview", 30, processed=staged.rows, force=True
        )
    else:
        staged = _stage_file(run, sql, progress, issues_to=run.pk if preview else None)
    if staged.rows == 0:
        raise SpreadsheetError("The file has a header row but no data rows.")
    progress.report("Comparing with the register", 65, processed=staged.rows, force=True)
    pipeline.analyse_staged()
    # A repeated reference is a property of the file: the kept rows are refused and
    # counted already (in their invalid and issues columns).
    duplicates, duplicate_issues = (
        pipeline.refuse_duplicates() if staged.may_repeat and not restored else (0, [])
    )
    if preview:
        pipeline.keep_staged(run.pk, generation=staged.generation)
    missing, missing_issues = pipeline.refuse_new_without_required(sql)
    extra_issues = duplicate_issues + missing_issues
    if extra_issues and preview:
        pipeline.write_issues(run.pk, extra_issues)
    # The preview shows the JSON (diffs, conflicts) of its samples only: plan_samples.
    pipeline.build_plan(sql, with_json=not preview)
    counts = pipeline.plan_counts()
    invalid = staged.invalid_rows + duplicates + missing
    staged_ok = staged.staged - duplicates - missing
    counts = {
        "rows": staged.rows,
        "new": counts["new"],
        "changed": counts["changed"],
        "conflicting": counts["conflicting"],
        "unchanged": staged_ok - counts["planned"],
        "invalid": invalid,
        "issues": staged.issues + len(extra_issues),
    }
    if not preview:
        return staged, counts, {}
    samples = pipeline.plan_samples(sql)
    first = sorted(staged.first_issues + extra_issues)[: pipeline.SAMPLE_SIZE]
    samples["invalid"] = [{"row": r, "column": c, "message": m} for r, c, m in first]
    return staged, counts, samples


def _stage_file(run: ImportRun, sql: pipeline.ImportSQL, progress: Progress, *, issues_to):
    """Read and parse the stored file into the staging table."""
    file_size = max(run.file_size, 1)
    # A local copy first: the stored file is read from the database, on the connection
    # that is about to be busy with the COPY.
    with run.file.open("rb") as stored, tempfile.TemporaryFile() as local:
        shutil.copyfileobj(stored, local, 1024 * 1024)
        local.seek(0)
        counting = _CountingReader(local)
        with open_sheet(counting, filename=run.filename, options=run.options) as sheet:
            progress.report("Reading the file", 0, force=True)

            def read(rows: int) -> None:
                progress.report(
                    "Reading the file", 60 * counting.position / file_size, processed=rows
                )

            return pipeline.stage(sql, sheet, progress=read, issues_to=issues_to)


class _CountingReader:
    """A file object that counts the bytes read through it (the reading phase's progress)."""

    def __init__(self, file):
        self._file = file
        self.position = 0

    def read(self, size=-1):
        data = self._file.read(size)
        self.position += len(data)
        return data

    def readinto(self, buffer):
        count = self._file.readinto(buffer)
        self.position += count or 0
        return count

    def __getattr__(self, name):
        return getattr(self._file, name)


def import_confirm(
    *, run: ImportRun, reason: str, mode: str, skip_invalid: bool, by, defer: bool = True
) -> ImportRun:
    """Queue the apply of a previewed run; raise ValidationError if it cannot be applied."""
    reason = (reason or "").strip()
    errors = {}
    if not reason:
        errors["reason"] = "Say why: the reason is kept with every change this import makes."
    if mode not in ImportRun.Mode.values:
        errors["mode"] = "Choose how to treat records missing from the file."
    with transaction.atomic():
        run = ImportRun.objects.select_for_update().get(pk=run.pk)
        if run.status not in (Status.PREVIEWED, Status.FAILED):
            errors["__all__"] = (
                f"This import is {run.get_status_display().lower()}: it cannot be applied."
            )
        elif run.counts.get("invalid") and not skip_invalid:
            errors["skip_invalid"] = (
                f"{run.counts['invalid']:,} rows are invalid. Fix the file and upload it again, "
                "or skip the invalid rows."
            )
        if errors:
            raise ValidationError(errors)
        run.reason = reason
        run.mode = mode
        run.skip_invalid = skip_invalid
        run.applied_by = by
        run.status = Status.QUEUED
        run.error = ""
        run.phase = "Waiting for a worker"
        run.progress = 0
        run.processed_rows = 0
        run.save()
        if defer:
            _defer("apply", run)
    return run


def import_apply(*, run: ImportRun, echo=None) -> ImportRun:
    """Apply a queued run in one transaction: everything, or (on any error) nothing."""
    run.refresh_from_db()
    if run.status != Status.QUEUED:
        return run
    ImportRun.objects.filter(pk=run.pk).update(
        status=Status.APPLYING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        phase="Waiting for other imports into this register",
        progress=0,
    )
    run.refresh_from_db()
    sql = pipeline.ImportSQL(run_columns(run), organisation_id=run.organisation_id)
    started = time.monotonic()
    with Progress("records_importrun", run.pk, echo=echo) as progress:
        try:
            with audited():
                _lock_organisation(run.organisation_id)
                changeset = Changeset.objects.create(
                    organisation_id=run.organisation_id,
                    kind=Changeset.Kind.IMPORT,
                    channel=Channel.IMPORT,
                    user=run.applied_by,
                    reason=run.reason,
                    summary=f"Import #{run.pk}: {run.filename}"[:200],
                )
                staged, counts, _samples = _stage_and_plan(run, sql, progress, preview=False)
                if counts["invalid"] and not run.skip_invalid:
                    raise pipeline.ImportBlocked(
                        f"{counts['invalid']:,} rows are invalid; nothing was changed."
                    )
                params = {
                    "user": run.applied_by_id,
                    "reason": run.reason,
                    "channel": Channel.IMPORT,
                    "changeset": changeset.pk,
                    "run": run.pk,
                }
                progress.report("Writing records", 75, force=True)
                planned = counts["new"] + counts["changed"] + counts["conflicting"]
                applied = pipeline.apply_plan(sql, params, planned=planned)
                if run.mode == ImportRun.Mode.FULL_REFRESH:
                    progress.report("Marking missing records removed", 90, force=True)
                    applied.removed, applied.removed_conflicts = pipeline.remove_absent(sql, params)
                pipeline.drop_temp()
                pipeline.discard_staged(run.pk)
                progress.report("Finishing", 95, force=True)
                _update_register(run, sql.columns)
                run.changeset = changeset
                run.counts = {
                    "rows": staged.rows,
                    "new": applied.new,
                    "changed": applied.changed,
                    "conflicting": applied.conflicting + applied.removed_conflicts,
                    # Rows someone else changed meanwhile, planned again, may turn out unchanged.
                    "unchanged": staged.rows
                    - counts["invalid"]
                    - applied.new
                    - applied.changed
                    - applied.conflicting,
                    "invalid": counts["invalid"],
                    "issues": counts["issues"],
                    "removed": applied.removed,
                    "passes": applied.passes,
                    "seconds": round(time.monotonic() - started, 2),
                }
                run.status = Status.APPLIED
                run.phase = "Applied"
                run.progress = 100
                run.processed_rows = staged.rows
                run.finished_at = timezone.now()
                run.save()
        except (pipeline.ImportBlocked, SpreadsheetError) as error:
            return _stop(run, Status.FAILED, str(error))
        except DatabaseError:
            log.exception("Apply of import #%s failed", run.pk)
            return _stop(
                run, Status.FAILED, "The database refused the import; nothing was changed."
            )
        except Exception:
            log.exception("Apply of import #%s failed", run.pk)
            return _stop(run, Status.FAILED, "The import failed unexpectedly; nothing was changed.")
    log.info("Import #%s applied: %s", run.pk, run.counts)
    return run


def _lock_organisation(organisation_id: int) -> None:
    """Wait for any other import into this organisation, then hold it off until commit."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [IMPORT_LOCK_CLASS, organisation_id])


def _update_register(run: ImportRun, columns: ColumnMap) -> None:
    """Remember the file's columns and the `extra` keys it brought, in one write."""
    register = locked_register(run.organisation_id)
    add_extra_columns(register, columns.extra_keys)
    register.column_map = remember(register.column_map, columns)
    register.save(update_fields=["column_map", "extra_columns"])


def import_cancel(*, run: ImportRun) -> ImportRun:
    if run.status in (Status.APPLYING, Status.APPLIED, Status.QUEUED):
        raise ValidationError("This import can no longer be discarded.")
    with transaction.atomic():
        run.status = Status.CANCELLED
        run.phase = "Discarded"
        run.save(update_fields=["status", "phase"])
        pipeline.discard_staged(run.pk)
    return run


def import_staging_expire(*, now: dt.datetime | None = None) -> int:
    """Drop the kept staged rows of runs that will not be applied, or not soon; return how many.

    Always safe: an apply whose kept rows are gone reads its file again.
    """
    kept = pipeline.kept_runs()
    pending = set(
        ImportRun.objects.filter(
            pk__in=kept,
            status__in=(Status.PREVIEWED, Status.QUEUED, Status.APPLYING, Status.FAILED),
            created_at__gt=(now or timezone.now()) - KEEP_STAGED_FOR,
        ).values_list("pk", flat=True)
    )
    expired = [run_id for run_id in kept if run_id not in pending]
    for run_id in expired:
        pipeline.discard_staged(run_id)
    if expired:
        log.info("Dropped the staged rows of %s import runs", len(expired))
    return len(expired)


def import_fail_if_dead(*, run: ImportRun, now: dt.datetime | None = None) -> bool:
    """Mark a running job whose worker stopped as failed (and retryable); return whether it was."""
    if run.status not in (Status.PREVIEWING, Status.APPLYING) or run.heartbeat_at is None:
        return False
    if (now or timezone.now()) - run.heartbeat_at < DEAD_AFTER:
        return False
    message = "The worker stopped before finishing; nothing was changed."
    status = Status.FAILED if run.status == Status.APPLYING else Status.INVALID
    updated = ImportRun.objects.filter(
        pk=run.pk, status=run.status, heartbeat_at=run.heartbeat_at
    ).update(
        status=status,
        error=message,
        phase="Stopped",
    )
    if updated:
        run.refresh_from_db()
    return bool(updated)


def import_retry(*, run: ImportRun, defer: bool = True) -> ImportRun:
    """Queue a failed apply again (the file, columns, reason and mode stay as they were)."""
    with transaction.atomic():
        run = ImportRun.objects.select_for_update().get(pk=run.pk)
        if run.status != Status.FAILED:
            raise ValidationError("Only a failed import can be tried again.")
        run.status = Status.QUEUED
        run.error = ""
        run.phase = "Waiting for a worker"
        run.progress = 0
        run.save()
        if defer:
            _defer("apply", run)
    return run


def _stop(run: ImportRun, status: str, message: str) -> ImportRun:
    """Record why a job stopped, outside its rolled-back transaction."""
    ImportRun.objects.filter(pk=run.pk).update(
        status=status, error=message, phase="Stopped", finished_at=timezone.now()
    )
    run.refresh_from_db()
    log.info("Import #%s stopped: %s", run.pk, message)
    return run


def _defer(what: str, run: ImportRun) -> None:
    from records import tasks  # noqa: PLC0415 - tasks import this module

    job = tasks.import_preview_job if what == "preview" else tasks.import_apply_job
    # Deferred on this transaction's connection: the job exists if and only if the run does.
    job.configure(lock=f"import-{run.organisation_id}" if what == "apply" else None).defer(
        run_id=run.pk
    )
