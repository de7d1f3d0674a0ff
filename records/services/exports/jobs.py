"""XLSX exports too large for a request: an ExportJob, built by a worker, downloaded later.

    export_job_create   remember the view and queue the job
    export_job_run      (a job) write the XLSX, store it, set when its link expires
    export_job_fail_if_dead   a job whose worker stopped beating is failed
    export_jobs_expire  (a periodic job) delete the files whose link has expired

The file is stored like uploads (records/storage.py: in PostgreSQL), so any web process
can serve it, and only through records:export_download, which checks the organisation.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile

from django.conf import settings
from django.core.files.base import File
from django.db import transaction
from django.http import QueryDict
from django.utils import timezone

from accounts.models import Organisation
from records.models import ExportJob
from records.services.exports.view import records_view
from records.services.exports.xlsxfile import MAX_ROWS, TooManyRows, export_xlsx
from records.services.imports.progress import HEARTBEAT_SECONDS, Progress

log = logging.getLogger(__name__)

Status = ExportJob.Status

# As for imports: a running job that has not reported for this long has died.
DEAD_AFTER = dt.timedelta(seconds=max(30, 15 * HEARTBEAT_SECONDS))
# Share of the progress bar for writing rows; compressing and storing take the rest.
_ROWS_SHARE = 90


def export_job_create(
    *, organisation: Organisation, user, params: QueryDict, defer: bool = True
) -> ExportJob:
    """Queue an XLSX export of the records view that `params` (a browser query) shows."""
    view = records_view(organisation=organisation, params=params)
    with transaction.atomic():
        job = ExportJob.objects.create(
            organisation=organisation,
            created_by=user,
            format="xlsx",
            view="records",
            query={"querystring": params.urlencode()},
            filename=view.filename("xlsx"),
            phase="Waiting for a worker",
        )
        if defer:
            _defer(job)
    log.info("Export #%s of %s (%s) queued by %s", job.pk, organisation, view.description, user)
    return job


def export_job_run(*, job: ExportJob) -> ExportJob:
    """Write the job's XLSX to a temporary file, then store it; record why if it cannot."""
    claimed = ExportJob.objects.filter(pk=job.pk, status=Status.QUEUED).update(
        status=Status.RUNNING, heartbeat_at=timezone.now(), phase="Counting the rows"
    )
    job.refresh_from_db()
    if not claimed:
        return job
    with Progress("records_exportjob", job.pk) as progress:
        try:
            view = records_view(
                organisation=job.organisation,
                params=QueryDict(job.query.get("querystring", "")),
            )
            # A full count, unlike the browser's capped one: the progress bar needs the
            # total, and a background job can afford one scan more.
            total = view.queryset.count()
            if total + 1 > MAX_ROWS:
                raise TooManyRows(
                    f"This view has {total:,} records, more than an Excel sheet holds "
                    f"({MAX_ROWS - 1:,}): narrow it with a filter, or download CSV."
                )
            progress.report("Writing rows", 0, processed=0, total=total, force=True)

            def wrote(rows: int) -> None:
                if rows >= total:
                    progress.report("Compressing the file", _ROWS_SHARE, processed=rows, force=True)
                else:
                    progress.report("Writing rows", _ROWS_SHARE * rows / total, processed=rows)

            with tempfile.TemporaryFile() as out:
                rows = export_xlsx(
                    queryset=view.queryset, columns=view.columns, out=out, progress=wrote
                )
                progress.report("Storing the file", 95, processed=rows, force=True)
                job.file.save(job.filename, File(out, name=job.filename), save=False)
            finished = timezone.now()
            ExportJob.objects.filter(pk=job.pk).update(
                status=Status.DONE,
                file=job.file.name,
                phase="Ready",
                progress=100,
                processed_rows=rows,
                total_rows=rows,
                heartbeat_at=finished,
                finished_at=finished,
                expires_at=finished + dt.timedelta(hours=settings.EXPORT_DOWNLOAD_TTL_HOURS),
            )
        except TooManyRows as error:
            return _stop(job, str(error))
        except Exception:
            log.exception("Export #%s failed", job.pk)
            return _stop(job, "The export failed unexpectedly. Try again, or download CSV.")
    job.refresh_from_db()
    log.info("Export #%s written: %s rows, %s", job.pk, job.processed_rows, job.file.name)
    return job


def export_job_fail_if_dead(*, job: ExportJob, now: dt.datetime | None = None) -> bool:
    """Fail a running job whose worker stopped reporting; return whether it was dead."""
    if job.status != Status.RUNNING or job.heartbeat_at is None:
        return False
    if (now or timezone.now()) - job.heartbeat_at < DEAD_AFTER:
        return False
    updated = ExportJob.objects.filter(
        pk=job.pk, status=Status.RUNNING, heartbeat_at=job.heartbeat_at
    ).update(
        status=Status.FAILED,
        error="The worker stopped before finishing. Export again.",
        phase="Stopped",
    )
    job.refresh_from_db()
    return bool(updated)


def export_job_expired(*, job: ExportJob, now: dt.datetime | None = None) -> bool:
    """Tell whether a finished job's download link has expired."""
    return job.expires_at is not None and (now or timezone.now()) >= job.expires_at


def export_job_discard_file(*, job: ExportJob) -> None:
    """Delete an expired job's file (the job stays, as a record of the export)."""
    if job.file:
        job.file.delete(save=False)
        ExportJob.objects.filter(pk=job.pk).update(file="")


def export_jobs_expire(*, now: dt.datetime | None = None) -> int:
    """Delete the files of every export whose link has expired; return how many."""
    expired = ExportJob.objects.filter(expires_at__lte=now or timezone.now()).exclude(file="")
    count = 0
    for job in expired:
        export_job_discard_file(job=job)
        count += 1
    if count:
        log.info("Deleted the files of %s expired exports", count)
    return count


def _stop(job: ExportJob, message: str) -> ExportJob:
    ExportJob.objects.filter(pk=job.pk).update(
        status=Status.FAILED, error=message, phase="Stopped", finished_at=timezone.now()
    )
    job.refresh_from_db()
    log.info("Export #%s stopped: %s", job.pk, message)
    return job


def _defer(job: ExportJob) -> None:
    from records import tasks  # noqa: PLC0415 - tasks import this module

    # Deferred on this transaction's connection: the job exists if and only if the row does.
    tasks.export_run_job.defer(job_id=job.pk)
