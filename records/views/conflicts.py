"""Unresolved import conflicts: list, filter, and resolve them singly or in bulk."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.access import organisation_view
from accounts.models import Role
from records import selectors
from records.filters import ConflictFilterSet
from records.forms import ConflictResolveForm
from records.services.conflicts import conflicts_resolve
from records.tables import ConflictTable, RequestConfig
from site_config.htmx import render_page


def _filterset(request: HttpRequest, data) -> ConflictFilterSet:
    queryset = selectors.conflicts_open(request.organisation).select_related(
        "record", "amended_by", "import_run"
    )
    return ConflictFilterSet(data or None, queryset=queryset)


@organisation_view(Role.EDITOR)
@require_GET
def conflict_list(request: HttpRequest) -> HttpResponse:
    """Queries: the count, the page of conflicts with their records, users and runs."""
    filterset = _filterset(request, request.GET)
    table = ConflictTable(filterset.qs, org_slug=request.organisation.slug)
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    context = {
        "filterset": filterset,
        "table": table,
        "form": ConflictResolveForm(open_conflicts=filterset.qs),
        "querystring": request.GET.urlencode(),
        "nav": "conflicts",
    }
    return render_page(
        request,
        "records/conflict_list.html",
        context,
        fragments={"conflicts": "records/partials/conflict_browse.html"},
        default_fragment="records/partials/conflict_browse.html",
    )


@organisation_view(Role.EDITOR)
@require_POST
def conflict_resolve(request: HttpRequest) -> HttpResponse:
    """Resolve the selected conflicts, or all that match the filter, one way with one reason."""
    query = request.POST.get("querystring", "")
    filterset = _filterset(request, QueryDict(query))
    form = ConflictResolveForm(request.POST, open_conflicts=filterset.qs)
    if not form.is_valid():
        table = ConflictTable(filterset.qs, org_slug=request.organisation.slug)
        RequestConfig(request, paginate={"per_page": 50}).configure(table)
        context = {
            "filterset": filterset,
            "table": table,
            "form": form,
            "querystring": query,
            "nav": "conflicts",
        }
        return render(request, "records/conflict_list.html", context, status=422)
    chosen = filterset.qs if form.cleaned_data["all_matching"] else form.cleaned_data["selected"]
    result = conflicts_resolve(
        organisation=request.organisation,
        conflicts=list(chosen),
        resolution=form.cleaned_data["resolution"],
        reason=form.cleaned_data["reason"],
        by=request.user,
    )
    done = result.kept + result.accepted
    verb = "Kept the amendment" if result.kept else "Accepted the source value"
    messages.success(request, f"{verb} for {done} conflict{'s' if done != 1 else ''}.")
    url = reverse("records:conflicts", kwargs={"org_slug": request.organisation.slug})
    return redirect(f"{url}?{query}" if query else url)
