"""Pages: server time of realistic requests, ours next to the Django admin's on the same data.

Each request runs through the whole Django stack in this process (middleware, the
access gate, queries, templates: everything but the network; the database connection
kept between requests, as production settings keep it), once to warm up and then
`page_repeats` times (the admin's three times); p50 and p95 are over those repeats. The
admin's equivalent request, where there is one, is the baseline: RecordAdmin has the
browser's search fields and filters; the changes page is compared with a plain
ModelAdmin of the history (registered here, for the bench only) with the same filters
and searches; the timeline
with simple-history's admin history page; the record page with the admin change form.

Queries per page are counted once per request; the largest count of each page kind is
reported (the tests pin them exactly).
"""

from __future__ import annotations

import datetime as dt
import time
from urllib.parse import urlencode

from django.contrib import admin
from django.db import connection, reset_queries
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Organisation, User
from bench.context import Context, percentile
from bench.report import Result
from records.models import Changeset, Conflict, Record

TARGET_LIST = "p95 ≤ 150 ms, ≥ 5× the admin"
TARGET_RECORD = "p95 ≤ 50 ms"
# The admin's pages take seconds at a million rows: fewer timings of each.
ADMIN_REPEATS = 3


class HistoryAdmin(admin.ModelAdmin):
    """What a team would put in the admin to answer "who changed what, when and why"."""

    list_display = [
        "history_date",
        "reference",
        "history_type",
        "history_user",
        "channel",
        "history_change_reason",
    ]
    list_filter = ["channel", "history_type", "history_date"]
    search_fields = ["history_change_reason", "reference", "name"]
    list_select_related = ["history_user"]


def run(ctx: Context) -> None:
    print(f"\nPages ({ctx.scale.page_repeats} timings of each request)", flush=True)
    history_model = Record.history.model
    if not admin.site.is_registered(history_model):
        admin.site.register(history_model, HistoryAdmin)
    bench = Organisation.objects.get(slug="bench")
    viewer, manager = Client(), Client()
    viewer.force_login(User.objects.get(username="viewer"))
    manager.force_login(User.objects.get(username="manager"))
    superuser = Client()
    superuser.force_login(User.objects.get(username="admin"))

    kinds = [
        ("records browser", viewer, browser_requests(bench), TARGET_LIST),
        ("changes page", manager, changes_requests(bench), TARGET_LIST),
        ("record page", viewer, record_requests(bench, "detail"), TARGET_RECORD),
        ("record timeline", viewer, record_requests(bench, "history"), TARGET_RECORD),
    ]
    for kind, client, requests, target in kinds:
        worst_p95, queries, admin_queries = 0.0, 0, 0
        all_ours: list[float] = []
        all_theirs: list[float] = []
        for label, ours_url, admin_url in requests:
            ours, count = _time(client, ours_url, ctx.scale.page_repeats)
            queries = max(queries, count)
            theirs, their_count = (
                _time(superuser, admin_url, ADMIN_REPEATS) if admin_url else ([], 0)
            )
            admin_queries = max(admin_queries, their_count)
            all_ours += ours
            all_theirs += theirs
            p95 = percentile(ours, 0.95)
            worst_p95 = max(worst_p95, p95)
            ctx.report.add(
                Result(
                    name=f"{kind}: {label}",
                    unit="ms",
                    runs=ours,
                    baseline_name="admin" if admin_url else None,
                    baseline_runs=theirs,
                    details={
                        "p95": round(p95, 1),
                        "queries": count,
                        "url": ours_url,
                        **({"baseline_url": admin_url} if admin_url else {}),
                    },
                )
            )
        ctx.report.add(
            Result(
                name=f"{kind}: p95 of every request",
                unit="ms",
                runs=[percentile(all_ours, 0.95)],
                baseline_name="admin" if all_theirs else None,
                baseline_runs=[percentile(all_theirs, 0.95)] if all_theirs else [],
                target=target,
                details={"worst_request_p95": round(worst_p95, 1), "requests": len(requests)},
            )
        )
        ctx.report.add(
            Result(
                name=f"{kind}: queries per page (most)",
                unit="queries",
                runs=[queries],
                baseline_name="admin" if admin_queries else None,
                baseline_runs=[admin_queries] if admin_queries else [],
            )
        )


def _time(client: Client, url: str, repeats: int) -> tuple[list[float], int]:
    """Milliseconds of each repeat of a GET (after one to warm up), and its queries."""
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    count = len(queries)  # now: the next request empties the log
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, url
    return timings, count


def _url(base: str, params: dict) -> str:
    return f"{base}?{urlencode(params)}" if params else base


def browser_requests(org: Organisation) -> list[tuple[str, str, str | None]]:
    """(label, our URL, the admin's equivalent URL) for the records browser."""
    ours = f"/o/{org.slug}/records/"
    theirs = "/admin/records/record/"
    scope = {"organisation__id__exact": org.pk}
    sample = Record.objects.filter(organisation=org).order_by("pk")[1234]
    common_region = (
        Record.objects.filter(organisation=org)
        .values_list("region", flat=True)
        .annotate(n=Count("id"))
        .order_by("-n")[0]
    )
    requests = [
        ("no filter", {}, {}),
        ("status", {"status": "removed"}, {"status__exact": "removed"}),
        ("category", {"category": "Education/training"}, {"category__exact": "Education/training"}),
        ("region", {"region": common_region}, {"region__exact": common_region}),
        (
            "income range",
            {"income_min": "10000", "income_max": "100000"},
            {"income__gte": "10000", "income__lte": "100000"},
        ),
        (
            "registered between",
            {"registered_on_after": "2000-01-01", "registered_on_before": "2004-12-31"},
            {"registered_on__gte": "2000-01-01", "registered_on__lte": "2004-12-31"},
        ),
        ("search, many rows", {"q": "trust"}, {"q": "trust"}),
        ("search, few rows", {"q": sample.postcode}, {"q": sample.postcode}),
        ("search, one reference", {"q": sample.reference}, {"q": sample.reference}),
        (
            "search and filter",
            {"q": "church", "status": "registered"},
            {"q": "church", "status__exact": "registered"},
        ),
        ("sort by name", {"sort": "name"}, {"o": "2"}),
        ("sort by income, largest first", {"sort": "-income"}, {"o": "-7"}),
        ("deep page (10,000th row)", {"page": "400"}, {"p": "100"}),
        ("amended by hand", {"amended": "yes"}, None),
        ("unresolved conflicts", {"conflicts": "yes"}, None),
    ]
    urls = [
        (
            label,
            _url(ours, params),
            _url(theirs, scope | admin_params) if admin_params is not None else None,
        )
        for label, params, admin_params in requests
    ]
    urls += [
        ("facets, no filter", f"{ours}facets/", None),
        ("facets, searching", _url(f"{ours}facets/", {"q": "trust"}), None),
    ]
    return urls


def changes_requests(org: Organisation) -> list[tuple[str, str, str | None]]:
    ours = f"/o/{org.slug}/changes/"
    theirs = "/admin/records/historicalrecord/"
    scope = {"organisation__id__exact": org.pk}
    editor = User.objects.get(username="editor")
    imports = Changeset.objects.filter(organisation=org, kind=Changeset.Kind.IMPORT)
    refresh = imports.order_by("-pk")[0]
    since = (timezone.localdate() - dt.timedelta(days=90)).isoformat()
    requests = [
        ("no filter", {}, {}),
        ("channel: web", {"channel": "web"}, {"channel__exact": "web"}),
        ("who: an editor", {"user": editor.pk}, {"history_user__id__exact": editor.pk}),
        ("field changed: income", {"field": "income"}, None),
        ("last 90 days", {"date_after": since}, {"history_date__gte": f"{since} 00:00+00:00"}),
        ("reason search, many rows", {"reason": "refresh"}, {"q": "refresh"}),
        ("reason search, few rows", {"reason": "treasurer"}, {"q": "treasurer"}),
        ("one operation", {"changeset": refresh.pk}, {"changeset__id__exact": refresh.pk}),
        ("deep page (10,000th row)", {"page": "400"}, {"p": "100"}),
        ("oldest first", {"sort": "when"}, {"o": "1"}),
    ]
    return [
        (
            label,
            _url(ours, params),
            _url(theirs, scope | admin_params) if admin_params is not None else None,
        )
        for label, params, admin_params in requests
    ] + [("chart (loaded after the page)", f"{ours}chart/", None)]


def record_requests(org: Organisation, page: str) -> list[tuple[str, str, str | None]]:
    """Records with the longest histories, one with a conflict, and a plain one."""
    records = Record.objects.filter(organisation=org)
    busiest = (
        Record.history.filter(
            organisation_id=org.pk, history_date__gte=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        )
        .values("id")
        .annotate(n=Count("history_id"))
        .order_by("-n", "id")[:3]
    )
    picks = [("long history", row["id"]) for row in busiest]
    conflicted = Conflict.objects.filter(organisation=org, resolved_at__isnull=True).first()
    if conflicted:
        picks.append(("with a conflict", conflicted.record_id))
    picks.append(("plain", records.order_by("pk").values_list("pk", flat=True)[500]))
    admin_page = {"detail": "change", "history": "history"}[page]
    suffix = "" if page == "detail" else "history/"
    return [
        (
            f"{label} (#{pk})",
            f"/o/{org.slug}/records/{pk}/{suffix}",
            f"/admin/records/record/{pk}/{admin_page}/",
        )
        for label, pk in picks
    ]
