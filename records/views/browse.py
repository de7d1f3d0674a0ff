"""Browse the register and read a record."""

from __future__ import annotations

import copy

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts.access import organisation_view
from accounts.models import Role
from records import selectors
from records.fields import CORE_FIELDS, FACET_FIELDS, InvalidValue
from records.filters import RecordFilterSet
from records.forms import BulkEditForm
from records.models import Conflict, Record
from records.tables import RecordTable, RequestConfig
from site_config.htmx import render_page, wants_fragment

PAGE_SIZES = (25, 50, 100)


def per_page(request: HttpRequest) -> int:
    try:
        size = int(request.GET.get("per_page", PAGE_SIZES[0]))
    except ValueError:
        return PAGE_SIZES[0]
    return size if size in PAGE_SIZES else PAGE_SIZES[0]


def browse_filterset(
    request: HttpRequest, data: QueryDict | None = None, *, paged: bool = False
) -> RecordFilterSet:
    organisation = request.organisation
    queryset = selectors.with_open_conflicts(selectors.records_for(organisation))
    data = request.GET if data is None else data
    return RecordFilterSet(data or None, queryset=queryset, organisation=organisation, paged=paged)


def browse_context(request: HttpRequest, data: QueryDict | None = None) -> dict:
    """The browser's filters, table and paging for a query (by default the request's own).

    A bulk edit answers with the results of the view it was made from, so the query can
    come from a form field rather than from the URL.
    """
    data = request.GET if data is None else data
    if data is not request.GET:
        # django-tables2 reads sorting and paging from request.GET.
        request = copy.copy(request)
        request.GET = data
    filterset = browse_filterset(request, data, paged=True)
    table = RecordTable(
        filterset.qs, org_slug=request.organisation.slug, can_edit=request.membership.can_edit
    )
    size = per_page(request)
    paginate = {
        "paginator_class": selectors.CappedPaginator,
        "per_page": size,
        "known_total": filterset.known_total(),
    }
    RequestConfig(request, paginate=paginate).configure(table)
    return {
        "filterset": filterset,
        "table": table,
        "paginator": table.paginator,
        "per_page": size,
        "page_sizes": PAGE_SIZES,
        "querystring": data.urlencode(),
        "bulk_form": BulkEditForm(initial={"query": data.urlencode()}),
        # Called by the template only where it draws the datalist (the whole browse
        # region), which reads the facet values for the filter menus anyway.
        "bulk_values": lambda: _suggested_values(filterset),
    }


def _suggested_values(filterset: RecordFilterSet) -> list[str]:
    """Values to suggest in the bulk-edit bar: every facet field's known values."""
    values = []
    for core in FACET_FIELDS:
        if core.choices is not None:
            values += core.choices.values
        else:
            values += filterset.facet_values.get(core.name, [])
    return list(dict.fromkeys(values))


BROWSE_FRAGMENTS = {
    "record-results": "records/partials/record_results.html",
    "browse": "records/partials/record_browse.html",
}


@organisation_view(Role.VIEWER)
@require_GET
def organisation_home(request: HttpRequest) -> HttpResponse:
    return redirect("records:list", org_slug=request.organisation.slug)


@organisation_view(Role.VIEWER)
@require_GET
def record_list(request: HttpRequest) -> HttpResponse:
    """The records browser: one URL for the page and for its HTMX fragments.

    Queries: the capped count (plus the planner's estimate past the cap), the page of
    rows, and the facet values for the filter menus (and the bulk-edit bar's suggested
    values); the rows carry their open-conflict flag in the same query. A search
    counts its matches exactly in the query that finds the page's ids, then reads those
    rows (selectors.search_page). None of it grows with the page size.
    """
    return render_page(
        request,
        "records/record_list.html",
        browse_context(request),
        fragments=BROWSE_FRAGMENTS,
        default_fragment="records/partials/record_browse.html",
    )


@organisation_view(Role.VIEWER)
@require_GET
def record_facets(request: HttpRequest) -> HttpResponse:
    """Counts per status, category and region for the current filter (loaded after the table).

    Unfiltered, the counts the database keeps; filtered, a scan of the matching records.
    """
    filterset = browse_filterset(request)
    if filterset.is_filtered:
        counted = selectors.record_facets(filterset.qs)
    else:
        counted = selectors.register_facets(request.organisation)
    facets = [
        {"label": facet.label, "options": _facet_options(request, facet)} for facet in counted
    ]
    context = {
        "facets": facets,
        "list_url": reverse("records:list", kwargs={"org_slug": request.organisation.slug}),
    }
    return render_page(
        request,
        "records/partials/record_facets.html",
        context,
        default_fragment="records/partials/record_facets.html",
    )


def _facet_options(request: HttpRequest, facet: selectors.Facet) -> list[dict]:
    """Each value with the query that applies it (or, if applied, removes it)."""
    current = request.GET.get(facet.field)
    options = []
    for value, label, count in facet.counts:
        query = request.GET.copy()
        query.pop("page", None)
        if value == current:
            query.pop(facet.field, None)
        else:
            query[facet.field] = value
        options.append(
            {
                "label": label,
                "count": count,
                "query": query.urlencode(),
                "selected": value == current,
            }
        )
    return options


def row_context(request: HttpRequest, record: Record) -> dict:
    """The record as one row of the browser's table (for an inline edit and its undoing)."""
    table = RecordTable(
        [record], org_slug=request.organisation.slug, can_edit=request.membership.can_edit
    )
    return {"table": table, "row": table.rows[0], "record": record}


def live_row(request: HttpRequest, pk: int) -> Record:
    """Return a live record of the organisation with its open-conflict flag, or 404."""
    queryset = selectors.with_open_conflicts(selectors.records_for(request.organisation))
    return get_object_or_404(queryset, pk=pk)


@organisation_view(Role.VIEWER)
@require_GET
def record_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Every field of one record, its amendments and its open conflicts.

    Asked for by a row of the browser's table (HX-Target record-<pk>), the same URL
    answers with that row: Cancel on an inline edit puts the row back.

    Queries: the record, its open conflicts, the Register (extra column order).
    """
    organisation = request.organisation
    if wants_fragment(request) and request.htmx.target == f"record-{pk}":
        return render_page(
            request,
            "records/partials/record_row.html",
            row_context(request, live_row(request, pk)),
        )
    record = get_object_or_404(Record.objects.for_organisation(organisation), pk=pk)
    register = selectors.register_for(organisation)
    conflicts = list(
        Conflict.objects.filter(record=record, resolved_at__isnull=True)
        .select_related("amended_by")
        .order_by("field")
    )
    fields = [
        {
            "core": core,
            "value": getattr(record, core.name),
            "display": _display(record, core),
            "amendment": record.amendments.get(core.name),
            "can_revert": core.name in record.amendments and _has_source(record, core),
        }
        for core in CORE_FIELDS
    ]
    known = [key for key in register.extra_columns if key in record.extra]
    extra = [(key, record.extra[key]) for key in known]
    extra += sorted((k, v) for k, v in record.extra.items() if k not in known)
    context = {"record": record, "fields": fields, "extra": extra, "conflicts": conflicts}
    return render_page(request, "records/record_detail.html", context)


def _has_source(record: Record, core) -> bool:
    """Whether an amended field's source value is one it can go back to (see amend.py)."""
    try:
        core.parse(record.amendments[core.name].get("source", ""))
    except InvalidValue:
        return False
    return True


def _display(record: Record, core) -> str:
    if core.choices is not None:
        return getattr(record, f"get_{core.name}_display")()
    return core.to_text(getattr(record, core.name))
