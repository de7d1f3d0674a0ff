"""Change records by hand: create, edit (on its page or inline in the table), delete,
restore, revert a field to its source value, bulk edit. Each view parses the request,
calls one service of records/services/ and picks a template.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget, trigger_client_event

from accounts.access import organisation_view
from accounts.models import Role
from records import history, selectors
from records.fields import FIELDS_BY_NAME
from records.forms import BulkEditForm, ReasonForm, RecordForm, rebased_form
from records.models import Record
from records.services import amend, bulk
from records.tables import BROWSE_COLUMNS, DeletedRecordTable, RequestConfig
from records.views.browse import (
    BROWSE_FRAGMENTS,
    browse_context,
    browse_filterset,
    live_row,
    row_context,
)
from records.views.confirm import add_errors, confirm_with_reason, org_record
from site_config.htmx import render_page, wants_fragment

# The fields an inline edit changes: the table's columns a person may amend.
INLINE_FIELDS = tuple(name for name in BROWSE_COLUMNS if name != "reference")


def _flash(response: HttpResponse, text: str, level: str = "success") -> HttpResponse:
    return trigger_client_event(response, "flash", {"text": text, "level": level})


def _status(request: HttpRequest, stale) -> int:
    """200 for a page shown, 409 for a save refused as stale, 422 for a form with errors."""
    if request.method != "POST":
        return 200
    return 409 if stale else 422


def _field_rows(form: RecordForm, record: Record | None) -> list[tuple]:
    """Each core field of the form with the record's amendment of it (or None)."""
    amendments = record.amendments if record is not None else {}
    return [(form[name], amendments.get(name)) for name in form.value_names]


@organisation_view(Role.EDITOR)
@require_http_methods(["GET", "POST"])
def record_create(request: HttpRequest) -> HttpResponse:
    """Add a record by hand (every field given a value starts amended)."""
    form = RecordForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            record = amend.record_create(
                organisation=request.organisation,
                values=form.values(),
                reason=form.cleaned_data["reason"],
                by=request.user,
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, f"Created {record.reference}.")
            return redirect("records:detail", org_slug=request.organisation.slug, pk=record.pk)
    context = {"form": form, "field_rows": _field_rows(form, None)}
    return render_page(request, "records/record_form.html", context, status=_status(request, None))


@organisation_view(Role.EDITOR)
@require_http_methods(["GET", "POST"])
def record_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a record on its own page, or inline: a row of the table asks (HX-Target
    record-<pk>), gets itself back as a form, and after the save as a row again.

    A save of a form opened at an older version is refused (409) with what changed
    since and by whom; the form comes back at the new version, keeping what the person
    typed, so nothing is overwritten without them seeing it.
    """
    organisation = request.organisation
    inline = wants_fragment(request) and request.htmx.target == f"record-{pk}"
    if inline:
        record = live_row(request, pk)
        form_options = {"fields": INLINE_FIELDS, "prefix": f"r{pk}", "form_id": f"row-form-{pk}"}
    else:
        record = get_object_or_404(Record.objects.for_organisation(organisation), pk=pk)
        if record.is_deleted:
            messages.error(request, "This record is deleted: restore it before changing it.")
            return redirect("records:detail", org_slug=organisation.slug, pk=pk)
        form_options = {}
    form = RecordForm(
        request.POST if request.method == "POST" else None, record=record, **form_options
    )
    stale, overwrites = None, []
    if form.is_bound and form.is_valid():
        try:
            saved = amend.record_amend(
                record=record,
                values=form.values(),
                reason=form.cleaned_data["reason"],
                by=request.user,
                version=form.cleaned_data["version"],
            )
        except amend.StaleRecord as refused:
            stale = history.changes_since(refused.record, refused.version)
            opened = history.version_entry(refused.record, refused.version)
            form, overwritten = rebased_form(form, record=refused.record, opened=opened)
            overwrites = [FIELDS_BY_NAME[name].label for name in overwritten]
            refused.record.has_conflicts = getattr(record, "has_conflicts", False)
            record = refused.record
        except ValidationError as error:
            add_errors(form, error)
        else:
            text = (
                f"Saved {saved.reference}."
                if saved.version != record.version
                else f"Nothing to save: {saved.reference} already had those values."
            )
            if inline:
                saved.has_conflicts = record.has_conflicts
                response = render_page(
                    request, "records/partials/record_row.html", row_context(request, saved)
                )
                return _flash(response, text)
            messages.success(request, text)
            return redirect("records:detail", org_slug=organisation.slug, pk=pk)

    context = {"form": form, "record": record, "stale": stale, "overwrites": overwrites}
    status = _status(request, stale)
    if inline:
        context |= row_context(request, record)
        # Each column of the row: its input if the form has one, else the cell as shown.
        context["cells"] = [
            {
                "column": column,
                "cell": cell,
                "field": form[column.name] if column.name in form.fields else None,
            }
            for column, cell in context["row"].items()
        ]
        response = render_page(
            request, "records/partials/record_row_form.html", context, status=status
        )
        if stale:
            _flash(
                response,
                f"Not saved: {record.reference} changed since you opened it. "
                "See what changed in the row; save again to apply your input.",
                "error",
            )
        return response
    context["field_rows"] = _field_rows(form, record)
    return render_page(request, "records/record_form.html", context, status=status)


def _reason_action(
    request: HttpRequest,
    record: Record,
    *,
    service: Callable,
    title: str,
    intro: str,
    button: str,
    done: str,
    then: str,
    danger: bool = False,
    **service_kwargs,
) -> HttpResponse:
    """Ask for a reason, then call `service` with it (records/views/confirm.py)."""

    def build(record, data):
        page = {"title": title, "intro": intro, "button": button, "danger": danger}
        return ReasonForm(data, initial={"version": record.version}), page

    def apply(data):
        service(
            record=record,
            reason=data["reason"],
            by=request.user,
            version=data["version"],
            **service_kwargs,
        )

    return confirm_with_reason(
        request,
        record,
        build=build,
        apply=apply,
        done=done,
        then=then,
        template="records/record_confirm.html",
    )


def _detail_url(record: Record) -> str:
    return reverse("records:detail", kwargs={"org_slug": record.organisation.slug, "pk": record.pk})


@organisation_view(Role.EDITOR)
@require_http_methods(["GET", "POST"])
def record_delete(request: HttpRequest, pk: int) -> HttpResponse:
    record = org_record(request, pk)
    if record.is_deleted:
        return redirect(_detail_url(record))
    return _reason_action(
        request,
        record,
        service=amend.record_delete,
        title=f"Delete {record.reference}",
        intro="The record leaves the register. It stays listed under Deleted records, "
        "with its history, and can be restored.",
        button="Delete",
        danger=True,
        done=f"Deleted {record.reference}. Deleted records lists it, and can restore it.",
        then=reverse("records:list", kwargs={"org_slug": request.organisation.slug}),
    )


@organisation_view(Role.EDITOR)
@require_http_methods(["GET", "POST"])
def record_restore(request: HttpRequest, pk: int) -> HttpResponse:
    record = org_record(request, pk)
    if not record.is_deleted:
        return redirect(_detail_url(record))
    return _reason_action(
        request,
        record,
        service=amend.record_restore,
        title=f"Restore {record.reference}",
        intro="The record comes back into the register as it was when it was deleted.",
        button="Restore",
        done=f"Restored {record.reference}.",
        then=_detail_url(record),
    )


@organisation_view(Role.EDITOR)
@require_http_methods(["GET", "POST"])
def record_revert_source(request: HttpRequest, pk: int, field: str) -> HttpResponse:
    """Put a field's source value back and clear its amendment."""
    record = org_record(request, pk)
    core = FIELDS_BY_NAME.get(field)
    amendment = record.amendments.get(field)
    if core is None or amendment is None:
        messages.info(request, "That field is not amended.")
        return redirect(_detail_url(record))
    source = amendment.get("source") or "(empty)"
    return _reason_action(
        request,
        record,
        service=amend.record_revert_to_source,
        field=field,
        title=f"Revert {core.label} of {record.reference} to its source value",
        intro=f"{core.label} goes back to “{source}” and is no longer amended "
        f"(amended by {amendment.get('by_name') or 'someone'}: “{amendment.get('reason', '')}”).",
        button="Revert to source value",
        done=f"{core.label} of {record.reference} is back to its source value.",
        then=_detail_url(record),
    )


@organisation_view(Role.VIEWER)
@require_GET
def record_deleted_list(request: HttpRequest) -> HttpResponse:
    """Deleted records, most recently deleted first (partial index records_deleted).

    Queries: the capped count, the page of rows with who deleted each and why (a
    correlated subquery per shown row, inside the same query).
    """
    table = DeletedRecordTable(
        selectors.deleted_records(request.organisation), org_slug=request.organisation.slug
    )
    RequestConfig(
        request, paginate={"paginator_class": selectors.CappedPaginator, "per_page": 25}
    ).configure(table)
    return render_page(request, "records/record_deleted.html", {"table": table})


@organisation_view(Role.EDITOR)
@require_POST
def records_bulk_edit(request: HttpRequest) -> HttpResponse:
    """Set one field of the ticked records, or of all records matching the view.

    The bar's form carries the browser's query: a success answers with the refreshed
    results of that view (retargeted at #record-results); an error re-renders only the
    bar, so the ticks in the table stay as they were.
    """
    organisation = request.organisation
    form = BulkEditForm(request.POST)
    query = QueryDict(request.POST.get("query", ""))
    if form.is_valid():
        data = form.cleaned_data
        if data["all"]:
            filterset = browse_filterset(request, query)
            if filterset.is_bound and not filterset.form.is_valid():
                form.add_error(None, "Fix the filters first: the view has errors.")
            records = filterset.qs
        else:
            records = selectors.records_for(organisation).filter(pk__in=data["ids"])
        result = None
        if not form.errors:
            try:
                result = bulk.records_bulk_edit(
                    organisation=organisation,
                    records=records,
                    field=data["field"],
                    value=data["parsed"],
                    reason=data["reason"],
                    by=request.user,
                )
            except ValidationError as error:
                add_errors(form, error)
        if result is not None:
            text = _bulk_summary(result, FIELDS_BY_NAME[data["field"]].label)
            if not request.htmx:
                messages.success(request, text)
                url = reverse("records:list", kwargs={"org_slug": organisation.slug})
                return redirect(f"{url}?{query.urlencode()}" if query else url)
            response = render_page(
                request, "records/partials/record_results.html", browse_context(request, query)
            )
            return _flash(reswap(retarget(response, "#record-results"), "outerHTML"), text)
    context = browse_context(request, query) | {"bulk_form": form}
    if request.htmx:
        return render_page(request, "records/partials/record_bulk_edit.html", context, status=422)
    return render_page(
        request,
        "records/record_list.html",
        context,
        fragments=BROWSE_FRAGMENTS,
        status=422,
    )


def _bulk_summary(result: bulk.BulkEdit, label: str) -> str:
    plural = "" if result.changed == 1 else "s"
    changed = f"Changed {label.lower()} of {result.changed} record{plural}"
    if result.unchanged:
        return f"{changed}; {result.unchanged} already had that value."
    return f"{changed}."
