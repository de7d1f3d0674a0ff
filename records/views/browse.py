"""Browse the register and read a record."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET
from django_tables2 import RequestConfig

from accounts.access import organisation_view
from accounts.models import Role
from records import selectors
from records.fields import CORE_FIELDS
from records.filters import RecordFilterSet
from records.models import Conflict, Record
from records.tables import RecordTable
from site_config.htmx import render_page

PAGE_SIZES = (25, 50, 100)


def _per_page(request: HttpRequest) -> int:
    try:
        size = int(request.GET.get("per_page", PAGE_SIZES[0]))
    except ValueError:
        return PAGE_SIZES[0]
    return size if size in PAGE_SIZES else PAGE_SIZES[0]


def _browse_filterset(request: HttpRequest) -> RecordFilterSet:
    organisation = request.organisation
    queryset = selectors.with_open_conflicts(selectors.records_for(organisation))
    return RecordFilterSet(request.GET or None, queryset=queryset, organisation=organisation)


@organisation_view(Role.VIEWER)
@require_GET
def organisation_home(request: HttpRequest) -> HttpResponse:
    return redirect("records:list", org_slug=request.organisation.slug)


@organisation_view(Role.VIEWER)
@require_GET
def record_list(request: HttpRequest) -> HttpResponse:
    """The records browser: one URL for the page and for its HTMX fragments.

    Queries: the capped count (plus the planner's estimate past the cap), the page of
    rows, and the Register for the filter menus; the rows carry their open-conflict
    flag in the same query. None of it grows with the page size.
    """
    filterset = _browse_filterset(request)
    table = RecordTable(filterset.qs, org_slug=request.organisation.slug)
    RequestConfig(
        request,
        paginate={"paginator_class": selectors.CappedPaginator, "per_page": _per_page(request)},
    ).configure(table)
    context = {
        "filterset": filterset,
        "table": table,
        "paginator": table.paginator,
        "per_page": _per_page(request),
        "page_sizes": PAGE_SIZES,
        "querystring": request.GET.urlencode(),
    }
    return render_page(
        request,
        "records/record_list.html",
        context,
        fragments={
            "record-results": "records/partials/record_results.html",
            "browse": "records/partials/record_browse.html",
        },
        default_fragment="records/partials/record_browse.html",
    )


@organisation_view(Role.VIEWER)
@require_GET
def record_facets(request: HttpRequest) -> HttpResponse:
    """Counts per status, category and region for the current filter (loaded after the table)."""
    filterset = _browse_filterset(request)
    facets = [
        {"label": facet.label, "options": _facet_options(request, facet)}
        for facet in selectors.record_facets(filterset.qs)
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


@organisation_view(Role.VIEWER)
@require_GET
def record_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Every field of one record, its amendments and its open conflicts.

    Queries: the record, its open conflicts, the Register (extra column order).
    """
    organisation = request.organisation
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
        }
        for core in CORE_FIELDS
    ]
    known = [key for key in register.extra_columns if key in record.extra]
    extra = [(key, record.extra[key]) for key in known]
    extra += sorted((k, v) for k, v in record.extra.items() if k not in known)
    context = {"record": record, "fields": fields, "extra": extra, "conflicts": conflicts}
    return render_page(request, "records/record_detail.html", context)


def _display(record: Record, core) -> str:
    if core.choices is not None:
        return getattr(record, f"get_{core.name}_display")()
    return core.to_text(getattr(record, core.name))
