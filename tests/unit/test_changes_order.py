"""The changes page assembles a page from parts with their own plans; the rows must not differ."""

from __future__ import annotations

import datetime as dt

import pytest
from django.http import QueryDict
from django.utils import timezone

from records import history
from records.filters import ChangeFilterSet
from records.models import Changeset, Channel, Record

History = Record.history.model


@pytest.fixture
def trail(acme, beacon, make_records, bob, alice):
    """Single edits with and without a word, two operations, another organisation's rows."""
    records = make_records(acme, *({"reference": f"R-{i:02d}"} for i in range(12)))
    (theirs,) = make_records(beacon, {"reference": "B-1"})
    start = timezone.now() - dt.timedelta(days=30)
    operations = [
        Changeset.objects.create(
            organisation=acme,
            kind="import",
            channel=Channel.IMPORT,
            user=bob,
            reason=f"Monthly import run {n}",
        )
        for n in range(2)
    ]

    def row(record, *, days, reason, changeset=None, user=bob, field="name"):
        History.objects.create(
            **{f.attname: getattr(record, f.attname) for f in History.tracked_fields},
            history_date=start + dt.timedelta(days=days),
            history_type="~",
            history_user=user,
            history_change_reason=reason,
            channel=Channel.IMPORT if changeset else Channel.WEB,
            changeset=changeset,
            changes={field: ["a", "b"]},
            changed_fields=[field],
        )

    for i, record in enumerate(records):
        row(record, days=i, reason="Typo in the name" if i % 3 == 0 else "Other")
        row(record, days=10, reason=operations[0].reason, changeset=operations[0])
        row(
            record,
            days=20 + i % 2,
            reason=operations[1].reason,
            changeset=operations[1],
            field="postcode",
        )
    row(theirs, days=25, reason="Typo in the name")
    return records


def expected(organisation, params) -> list[int]:
    filterset = ChangeFilterSet(
        QueryDict(params), queryset=history.history_for(organisation), organisation=organisation
    )
    return list(
        filterset.qs.order_by("-history_date", "-history_id").values_list("history_id", flat=True)
    )


def paged(organisation, params, *, wanted, per_page=5) -> list[int]:
    filterset = ChangeFilterSet(
        QueryDict(params), queryset=history.history_for(organisation), organisation=organisation
    )
    filtered = filterset.qs  # runs the filters, which note the operations a reason matched
    data = filterset.form.cleaned_data
    queryset = history.changes_in_order(
        filtered,
        organisation,
        wanted=wanted,
        reason_searched=bool(data.get("reason")),
        field_filtered=bool(data.get("field")),
        operations=filterset.operations,
    ).order_by("-sort_date", "-history_id")
    return list(queryset.values_list("history_id", flat=True)[wanted - per_page : wanted])


@pytest.mark.parametrize("probe", [5, 10_000])  # the walk, or collect and sort
@pytest.mark.parametrize(
    "params",
    [
        "reason=typo",
        "reason=monthly+import",
        "reason=run+1",
        "reason=name",
        "field=postcode",
        "field=name&reason=typo",
        "reason=nothing",
    ],
)
@pytest.mark.parametrize("page", [1, 2, 5])
def test_it_pages_through_the_same_rows_whatever_the_plan(
    acme, trail, monkeypatch, params, probe, page
):
    monkeypatch.setattr(history, "RECENT_PROBE", probe)
    everything = expected(acme, params)
    assert paged(acme, params, wanted=page * 5) == everything[(page - 1) * 5 : page * 5]


def test_it_counts_the_whole_filter_not_the_pages_candidates(acme, trail):
    filterset = ChangeFilterSet(
        QueryDict("reason=monthly"), queryset=history.history_for(acme), organisation=acme
    )
    ordered = history.changes_in_order(
        filterset.qs, acme, wanted=5, reason_searched=True, operations=filterset.operations
    )
    paginator = history.CountingPaginator(ordered, 5, counted=filterset.qs)
    assert paginator.count == 24
    assert len(paginator.page(1).object_list) == 5
