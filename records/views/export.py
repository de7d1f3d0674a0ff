"""Download the view being browsed as CSV or XLSX, and the large exports built by a worker."""

from __future__ import annotations

import tempfile

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_POST

from accounts.access import organisation_view
from accounts.models import Role
from records.models import ExportJob
from records.services import exports
from site_config.htmx import render_page

# An inline XLSX is built in memory up to this size, then in a temporary file.
_SPOOL_BYTES = 16 * 1024 * 1024


def _attachment(response: HttpResponse, filename: str) -> HttpResponse:
    response["Content-Disposition"] = exports.content_disposition(filename)
    # The register is private: no shared cache keeps it, and no proxy holds back the
    # stream until it ends.
    patch_cache_control(response, private=True, no_store=True)
    response["X-Accel-Buffering"] = "no"
    return response


@organisation_view(Role.VIEWER)
@require_GET
def record_export_csv(request: HttpRequest) -> HttpResponse:
    """The records of the view in the query string as CSV, streamed as PostgreSQL writes it.

    Queries: the Register (the columns), then one COPY of the rows, read while the
    response is sent: the header goes out before the first row is read.
    """
    view = exports.records_view(organisation=request.organisation, params=request.GET)
    response = StreamingHttpResponse(
        exports.stream_csv(queryset=view.queryset, columns=view.columns),
        content_type=exports.CSV_CONTENT_TYPE,
    )
    return _attachment(response, view.filename("csv"))


@organisation_view(Role.VIEWER)
@require_POST
def record_export_xlsx(request: HttpRequest) -> HttpResponse:
    """The view in the query string as XLSX: built now if small, else by a worker.

    A POST, because a large export creates a job. Up to EXPORT_XLSX_INLINE_MAX_ROWS
    rows (a capped count: it stops counting there) the file is the response; beyond,
    the person is sent to the job's page, which shows its progress and then the link.
    """
    view = exports.records_view(organisation=request.organisation, params=request.GET)
    limit = settings.EXPORT_XLSX_INLINE_MAX_ROWS
    # Unsorted: any limit + 1 rows tell that there are too many.
    if view.queryset.order_by()[: limit + 1].count() > limit:
        job = exports.export_job_create(
            organisation=request.organisation, user=request.user, params=request.GET
        )
        return redirect("records:export_job", org_slug=request.organisation.slug, pk=job.pk)
    out = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 - FileResponse closes it
    exports.export_xlsx(queryset=view.queryset, columns=view.columns, out=out)
    out.seek(0)
    response = FileResponse(out, content_type=exports.XLSX_CONTENT_TYPE)
    return _attachment(response, view.filename("xlsx"))


def _organisation_job(request: HttpRequest, pk: int) -> ExportJob:
    return get_object_or_404(ExportJob.objects.filter(organisation=request.organisation), pk=pk)


@organisation_view(Role.VIEWER)
@require_GET
def export_job(request: HttpRequest, pk: int) -> HttpResponse:
    """A background export's progress (polled every second while it runs), then its link.

    Queries: the job, and (only if it seems dead) the update that fails it.
    """
    job = _organisation_job(request, pk)
    exports.export_job_fail_if_dead(job=job)
    context = {
        "job": job,
        "expired": exports.export_job_expired(job=job),
        "running": job.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING),
        "records_url": _records_url(request, job),
    }
    return render_page(
        request,
        "records/export_job.html",
        context,
        fragments={"export-job": "records/partials/export_job_status.html"},
        default_fragment="records/partials/export_job_status.html",
    )


@organisation_view(Role.VIEWER)
@require_GET
def export_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The file of a finished export, to members of its organisation, until it expires."""
    job = _organisation_job(request, pk)
    if job.status != ExportJob.Status.DONE:
        return redirect("records:export_job", org_slug=request.organisation.slug, pk=job.pk)
    if exports.export_job_expired(job=job) or not job.file:
        # The periodic task deletes expired files; one followed before it runs goes now.
        exports.export_job_discard_file(job=job)
        context = {"job": job, "records_url": _records_url(request, job)}
        return render_page(request, "records/export_expired.html", context, status=410)
    response = FileResponse(job.file.open("rb"), content_type=exports.XLSX_CONTENT_TYPE)
    return _attachment(response, job.filename)


def _records_url(request: HttpRequest, job: ExportJob) -> str:
    """The records view the job exported, to go back to or export again."""
    url = reverse("records:list", kwargs={"org_slug": request.organisation.slug})
    query = job.query.get("querystring", "")
    return f"{url}?{query}" if query else url
