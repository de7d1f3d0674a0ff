"""Spreadsheet imports: upload, choose columns, preview, apply, and follow progress."""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections.abc import Iterator

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import organisation_view
from accounts.models import Role
from records import history
from records.fields import field_label
from records.forms import ImportColumnsForm, ImportConfirmForm, ImportUploadForm
from records.models import ImportRun
from records.services import imports
from records.spreadsheets import SpreadsheetError
from records.spreadsheets.formulas import escape_formula
from records.spreadsheets.reading import human_size
from site_config.htmx import render_page, wants_fragment

Status = ImportRun.Status
RUNNING = (Status.PREVIEWING, Status.QUEUED, Status.APPLYING)
SAMPLE_KINDS = (
    ("new", "New"),
    ("changed", "Changed"),
    ("conflicting", "Conflicting"),
    ("unchanged", "Unchanged"),
    ("invalid", "Invalid"),
)
SAMPLES_PER_PAGE = 10
ISSUES_PER_PAGE = 20


def _run(request: HttpRequest, pk: int) -> ImportRun:
    return get_object_or_404(
        ImportRun.objects.filter(organisation=request.organisation).select_related(
            "created_by", "applied_by", "changeset"
        ),
        pk=pk,
    )


def _detail(run: ImportRun) -> HttpResponse:
    return redirect("records:import_detail", org_slug=run.organisation.slug, pk=run.pk)


@organisation_view(Role.EDITOR)
@require_GET
def import_list(request: HttpRequest) -> HttpResponse:
    """Past and running imports, newest first."""
    runs = (
        ImportRun.objects.filter(organisation=request.organisation)
        .select_related("created_by")
        .defer("samples", "column_map", "options")  # a preview's samples: 100 rows of each kind
        .order_by("-created_at")
    )
    page = Paginator(runs, 25).get_page(request.GET.get("page"))
    for run in page:
        imports.import_fail_if_dead(run=run)
    return render(request, "records/import_list.html", {"page": page, "nav": "imports"})


@organisation_view(Role.EDITOR)
@require_http_methods(["GET", "POST"])
def import_new(request: HttpRequest) -> HttpResponse:
    """Upload a spreadsheet. A file that is not a readable spreadsheet stores nothing."""
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    too_big = int(request.META.get("CONTENT_LENGTH") or 0) > limit + 64 * 1024
    if request.method == "POST" and too_big:
        # Refused before Django reads the upload (the body is never parsed).
        context = {
            "form": ImportUploadForm(),
            "nav": "imports",
            "refused": f"The file is larger than the limit of {human_size(limit)}.",
        }
        return render(request, "records/import_new.html", context, status=413)
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            run = imports.import_create(
                organisation=request.organisation,
                user=request.user,
                file=upload,
                filename=upload.name,
                options=form.options(),
            )
        except SpreadsheetError as error:
            form.add_error("file", str(error))
        else:
            return _detail(run)
    status = 422 if request.method == "POST" else 200
    return render(
        request, "records/import_new.html", {"form": form, "nav": "imports"}, status=status
    )


@organisation_view(Role.EDITOR)
@require_GET
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One run: its columns, progress, preview (samples and issues), confirmation and result.

    The progress panel polls this URL; when the run stops running, the answer asks
    the browser to reload the page, which then shows what the job found.
    """
    run = _run(request, pk)
    imports.import_fail_if_dead(run=run)
    if (
        wants_fragment(request)
        and request.htmx.target == "import-progress"
        and run.status not in RUNNING
    ):
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render_page(
        request,
        "records/import_detail.html",
        _detail_context(request, run),
        fragments={
            "import-progress": "records/partials/import_progress.html",
            "import-samples": "records/partials/import_samples.html",
            "import-issues": "records/partials/import_issues.html",
        },
    )


def _detail_context(request: HttpRequest, run: ImportRun, confirm_form=None) -> dict:
    show = request.GET.get("show") or _first_sample_kind(run)
    samples = run.samples.get(show, []) if show in dict(SAMPLE_KINDS) else []
    sample_page = Paginator(samples, SAMPLES_PER_PAGE).get_page(request.GET.get("page"))
    sample_page.object_list = [_labelled(sample) for sample in sample_page.object_list]
    return {
        "run": run,
        "nav": "imports",
        "running": run.status in RUNNING,
        "kinds": [(kind, label, run.counts.get(kind, 0)) for kind, label in SAMPLE_KINDS],
        "show": show,
        "sample_page": sample_page,
        "issue_page": Paginator(run.issues.order_by("row", "id"), ISSUES_PER_PAGE).get_page(
            request.GET.get("issues")
        ),
        "columns_form": ImportColumnsForm(pairs=run.column_map, head=run.samples.get("head", [])),
        "confirm_form": confirm_form or ImportConfirmForm(initial={"mode": ImportRun.Mode.UPSERT}),
    }


def _labelled(sample: dict) -> dict:
    """A preview sample with its changes as the history shows them (labels, amounts)."""
    return {
        **sample,
        "lines": history.change_lines(sample.get("changes") or {}),
        "conflicts": [
            {**conflict, "label": field_label(conflict["field"])}
            for conflict in sample.get("conflicts") or []
        ],
    }


def _first_sample_kind(run: ImportRun) -> str:
    for kind, _ in SAMPLE_KINDS:
        if run.counts.get(kind):
            return kind
    return "new"


@organisation_view(Role.EDITOR)
@require_POST
def import_columns(request: HttpRequest, pk: int) -> HttpResponse:
    """Use the columns a person chose, and check the file again."""
    run = _run(request, pk)
    form = ImportColumnsForm(request.POST, pairs=run.column_map)
    if form.is_valid():
        try:
            imports.import_set_columns(run=run, choices=form.choices())
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
    return _detail(run)


@organisation_view(Role.EDITOR)
@require_POST
def import_apply(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm a previewed run: a reason and a mode; the apply runs as a job."""
    run = _run(request, pk)
    form = ImportConfirmForm(request.POST)
    if form.is_valid():
        try:
            imports.import_confirm(
                run=run,
                reason=form.cleaned_data["reason"],
                mode=form.cleaned_data["mode"],
                skip_invalid=form.cleaned_data["skip_invalid"],
                by=request.user,
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                for message in errors:
                    form.add_error(None if field == "__all__" else field, message)
        else:
            return _detail(run)
    return render(
        request, "records/import_detail.html", _detail_context(request, run, form), status=422
    )


@organisation_view(Role.EDITOR)
@require_POST
def import_retry(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run(request, pk)
    try:
        imports.import_retry(run=run)
    except ValidationError as error:
        messages.error(request, error.messages[0])
    return _detail(run)


@organisation_view(Role.EDITOR)
@require_POST
def import_discard(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run(request, pk)
    try:
        imports.import_cancel(run=run)
    except ValidationError as error:
        messages.error(request, error.messages[0])
        return _detail(run)
    messages.success(request, f"Discarded the import of {run.filename}; nothing was changed.")
    return redirect("records:import_list", org_slug=request.organisation.slug)


@organisation_view(Role.EDITOR)
@require_GET
def import_file(request: HttpRequest, pk: int) -> FileResponse:
    """The uploaded file, as it was kept."""
    run = _run(request, pk)
    return FileResponse(run.file.open("rb"), as_attachment=True, filename=run.filename)


@organisation_view(Role.EDITOR)
@require_GET
def import_errors(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The invalid rows as they were in the file, with their row number and what is wrong."""
    run = _run(request, pk)
    response = StreamingHttpResponse(_error_report(run), content_type="text/csv; charset=utf-8")
    stem = run.filename.rsplit(".", 1)[0]
    response["Content-Disposition"] = f'attachment; filename="{_ascii(stem)}-errors.csv"'
    return response


def _error_report(run: ImportRun) -> Iterator[bytes]:
    """Stream the report: read the file once, alongside the issues in row order."""
    issues = run.issues.order_by("row", "id").values_list("row", "column", "message").iterator()
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> bytes:
        data = buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        return data

    yield "\ufeff".encode()
    with run.file.open("rb") as stored, tempfile.TemporaryFile() as local:
        shutil.copyfileobj(stored, local, 1024 * 1024)
        local.seek(0)
        try:
            sheet = imports.open_sheet(local, filename=run.filename, options=run.options)
        except SpreadsheetError as error:
            writer.writerow(["error"])
            writer.writerow([str(error)])
            yield flush()
            return
        with sheet:
            writer.writerow(["row", *sheet.headers, "errors"])
            pending = next(issues, None)
            try:
                for number, cells in sheet.rows():
                    if pending is None:
                        break
                    problems = []
                    while pending is not None and pending[0] == number:
                        problems.append(f"{pending[1]}: {pending[2]}" if pending[1] else pending[2])
                        pending = next(issues, None)
                    if problems:
                        row = [escape_formula(str(cell)) for cell in cells]
                        writer.writerow([number, *row, "; ".join(problems)])
                        yield flush()
            except SpreadsheetError as error:
                writer.writerow(["", str(error)])
            yield flush()


def _ascii(text: str) -> str:
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "-" for ch in text)[
        :80
    ]
