"""The audit trail: a record's timeline, the organisation's changes page (with its chart and
CSV), and managers putting things right (revert to a version, undo a change).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import organisation_view
from accounts.models import Role
from records import history, selectors
from records.charts import changes_chart
from records.filters import ChangeFilterSet
from records.forms import ReasonForm, UndoForm
from records.models import Record
from records.services import exports, revert
from records.services.audit import diff, snapshot
from records.tables import ChangeTable, RequestConfig
from records.views.browse import PAGE_SIZES, per_page
from records.views.confirm import confirm_with_reason, org_record
from site_config.htmx import render_page

TIMELINE_PAGE_SIZE = 50


def _timeline_url(record: Record) -> str:
    return reverse(
        "records:history", kwargs={"org_slug": record.organisation.slug, "pk": record.pk}
    )


@organisation_view(Role.VIEWER)
@require_GET
def record_history(request: HttpRequest, pk: int) -> HttpResponse:
    """A record's timeline: who, when, why, from where, and field by field what changed.

    Queries: the record, the count of its history rows, one page of them with their
    user and operation (index history_record).
    """
    record = org_record(request, pk)
    page = Paginator(history.record_timeline(record), TIMELINE_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    can_manage = request.membership.can_manage and not record.is_deleted
    entries = [
        history.describe(entry)
        | {
            "undoable": set(history.undoable_fields(entry)) if can_manage else set(),
            "can_revert": can_manage and entry.version != record.version,
        }
        for entry in page
    ]
    context = {"record": record, "page": page, "entries": entries}
    return render_page(request, "records/record_history.html", context)


def _revert_preview(record: Record, entry) -> list[history.ChangeLine]:
    """What reverting to `entry` would change: every field and extra column, not deletion."""
    now, then = snapshot(record), snapshot(entry)
    now.pop("deleted_at"), then.pop("deleted_at")
    now.pop("reference"), then.pop("reference")
    return history.change_lines(diff(now, then))


@organisation_view(Role.MANAGER)
@require_http_methods(["GET", "POST"])
def record_revert(request: HttpRequest, pk: int, history_id: int) -> HttpResponse:
    """Put a record back as it was after one of its history entries."""
    record = org_record(request, pk)
    entry = get_object_or_404(history.record_timeline(record), history_id=history_id)
    if record.is_deleted:
        messages.error(request, "This record is deleted: restore it before reverting it.")
        return redirect(_timeline_url(record))

    def build(record, data):
        form = ReasonForm(data, initial={"version": record.version})
        return form, {"entry": entry, "preview": _revert_preview(record, entry)}

    def apply(data):
        revert.record_revert(
            record=record,
            entry=entry,
            reason=data["reason"],
            by=request.user,
            version=data["version"],
        )

    return confirm_with_reason(
        request,
        record,
        build=build,
        apply=apply,
        done=f"Reverted {record.reference} to version {entry.version}.",
        then=_timeline_url(record),
        template="records/record_revert.html",
    )


def _undo_form(request: HttpRequest, record: Record, entry, *, data) -> UndoForm:
    lines = {line.key: line for line in history.change_lines(entry.changes)}
    fields = history.undoable_fields(entry)
    chosen = [key for key in request.GET.getlist("field") if key in fields] or fields
    return UndoForm(
        data,
        choices=[(key, lines[key].label) for key in fields],
        initial={"version": record.version, "field": chosen},
    )


def _undo_preview(record: Record, entry) -> list[dict]:
    """Each undoable field: its value before and after the change, and now."""
    now = snapshot(record)
    keys = set(history.undoable_fields(entry))
    return [
        {"line": line, "now": history.change_lines({line.key: ["", now.get(line.key, "")]})[0].new}
        for line in history.change_lines(entry.changes)
        if line.key in keys
    ]


@organisation_view(Role.MANAGER)
@require_http_methods(["GET", "POST"])
def record_undo(request: HttpRequest, pk: int, history_id: int) -> HttpResponse:
    """Undo one change of a record: all its fields, or the ones chosen (?field=…)."""
    record = org_record(request, pk)
    entry = get_object_or_404(history.record_timeline(record), history_id=history_id)
    if record.is_deleted or not history.undoable_fields(entry):
        messages.error(
            request,
            "This record is deleted: restore it first."
            if record.is_deleted
            else "That change has no field to undo.",
        )
        return redirect(_timeline_url(record))

    def build(record, data):
        form = _undo_form(request, record, entry, data=data)
        return form, {"entry": entry, "preview": _undo_preview(record, entry)}

    def apply(data):
        revert.record_undo(
            record=record,
            entry=entry,
            fields=data["field"],
            reason=data["reason"],
            by=request.user,
            version=data["version"],
        )

    return confirm_with_reason(
        request,
        record,
        build=build,
        apply=apply,
        then=_timeline_url(record),
        done=f"Undid the change of {timezone.localtime(entry.history_date):%-d %b %Y, %H:%M} "
        f"to {record.reference}.",
        template="records/record_undo.html",
    )


# -- the organisation's changes -------------------------------------------------------


def _changes_filterset(request: HttpRequest) -> ChangeFilterSet:
    queryset = history.history_for(request.organisation).select_related("history_user", "changeset")
    return ChangeFilterSet(
        request.GET or None, queryset=queryset, organisation=request.organisation
    )


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", 1)))
    except ValueError:
        return 1


def _in_order(request: HttpRequest, filterset: ChangeFilterSet, wanted: int):
    """The filtered changes shaped for the plan that finds a page fastest (records/history.py)."""
    queryset = filterset.qs  # runs the filters, which note the operations a reason matched
    data = filterset.form.cleaned_data if filterset.is_bound and filterset.form.is_valid() else {}
    return history.changes_in_order(
        queryset,
        request.organisation,
        wanted=min(wanted, selectors.COUNT_CAP),
        reason_searched=bool(data.get("reason")),
        field_filtered=bool(data.get("field")),
        newest_first=request.GET.get("sort", "-when") == "-when",
        operations=filterset.operations,
    )


@organisation_view(Role.MANAGER)
@require_GET
def change_list(request: HttpRequest) -> HttpResponse:
    """Every change to the organisation's records, filtered; the chart loads after it.

    Queries: the capped count (history_org_recent, or the index of the filter), one
    page of rows with their user and operation joined, and for the full page the
    menus of the filter form (people, the register's extra columns, recent operations).
    """
    filterset = _changes_filterset(request)
    size = per_page(request)
    wanted = _page_number(request) * size
    table = ChangeTable(_in_order(request, filterset, wanted), org_slug=request.organisation.slug)
    RequestConfig(
        request,
        paginate={
            "paginator_class": history.CountingPaginator,
            "per_page": size,
            "counted": filterset.qs,
        },
    ).configure(table)
    context = {
        "filterset": filterset,
        "table": table,
        "paginator": table.paginator,
        "per_page": size,
        "page_sizes": PAGE_SIZES,
        "querystring": request.GET.urlencode(),
        "nav": "changes",
    }
    return render_page(
        request,
        "records/change_list.html",
        context,
        fragments={
            "change-results": "records/partials/change_results.html",
            "changes": "records/partials/change_browse.html",
        },
        default_fragment="records/partials/change_browse.html",
    )


def _chart_dates(filterset: ChangeFilterSet) -> tuple[dt.date | None, dt.date | None]:
    if not filterset.is_bound or not filterset.form.is_valid():
        return None, None
    period = filterset.form.cleaned_data.get("date")
    if not period:
        return None, None
    after = timezone.localtime(period.start).date() if period.start else None
    before = timezone.localtime(period.stop).date() if period.stop else None
    return after, before


@organisation_view(Role.MANAGER)
@require_GET
def change_chart(request: HttpRequest) -> HttpResponse:
    """Changes per day by channel, for the current filter, over its dates (or 30 days).

    One GROUP BY query; without other filters it is an index-only scan of
    history_org_channel over the period.
    """
    filterset = _changes_filterset(request)
    start, end = history.chart_period(*_chart_dates(filterset))
    counts = history.changes_per_day(filterset.qs.order_by(), start, end)
    context = {"chart": changes_chart(counts, start, end)}
    return render_page(
        request,
        "records/partials/change_chart.html",
        context,
        default_fragment="records/partials/change_chart.html",
    )


CSV_HEADER = [
    "when",
    "record_id",
    "reference",
    "name",
    "change",
    "field",
    "old",
    "new",
    "who",
    "channel",
    "operation",
    "reason",
    "version",
]


def _csv_rows(queryset) -> Iterator[list]:
    """One line per field changed, so that a spreadsheet can filter and pivot them."""
    for entry in queryset.iterator(chunk_size=2000):
        lines = history.change_lines(history.entry_changes(entry)) or [None]
        base = [
            timezone.localtime(entry.history_date).isoformat(),
            entry.id,
            entry.reference,
            entry.name,
            history.entry_action(entry),
        ]
        tail = [
            history.entry_author(entry),
            entry.get_channel_display(),
            f"#{entry.changeset_id} {entry.changeset}" if entry.changeset_id else "",
            history.entry_reason(entry),
            entry.version,
        ]
        for line in lines:
            middle = [line.label, line.old, line.new] if line else ["", "", ""]
            yield [*base, *middle, *tail]


@organisation_view(Role.MANAGER)
@require_GET
def change_export(request: HttpRequest) -> HttpResponse:
    """The changes matching the filter as CSV, streamed (flat memory at any size)."""
    filterset = _changes_filterset(request)
    # No LIMIT here: the planner collects and sorts the matches by itself.
    queryset = filterset.qs.order_by("-history_date", "-history_id")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    rows = exports.stream_csv_rows(header=CSV_HEADER, rows=_csv_rows(queryset))
    response = StreamingHttpResponse(rows, content_type=exports.CSV_CONTENT_TYPE)
    filename = f"{request.organisation.slug}-changes-{stamp}.csv"
    response["Content-Disposition"] = exports.content_disposition(filename)
    return response
