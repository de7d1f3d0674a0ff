"""The facet counts the database keeps (FacetCount, migration 0007) equal a scan of the
records after every kind of write, and the unfiltered browser reads them instead."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from records import selectors, tasks
from records.models import FacetCount, Record
from records.services.amend import record_amend, record_create, record_delete, record_restore
from records.services.bulk import records_bulk_edit
from records.services.register import facet_counts_compact
from tests.helpers import load, row

RECOUNT = importlib.import_module("records.migrations.0007_facet_counts").RECOUNT


def kept(organisation) -> dict[tuple[str, str], int]:
    return {
        (facet.field, value): count
        for facet in selectors.register_facets(organisation)
        for value, _, count in facet.counts
    }


def scanned(organisation) -> dict[tuple[str, str], int]:
    return {
        (facet.field, value): count
        for facet in selectors.record_facets(selectors.records_for(organisation))
        for value, _, count in facet.counts
    }


def assert_in_step(*organisations) -> None:
    for organisation in organisations:
        assert kept(organisation) == scanned(organisation)


@pytest.fixture
def registers(acme, beacon, bob, charlie):
    load(acme, bob, [row("A1"), row("A2", region="Wales"), row("A3", category="Arts")])
    load(beacon, charlie, [row("B1"), row("B2", status="removed")])
    assert kept(acme)[("region", "Wales")] == 1
    assert kept(beacon)[("status", "removed")] == 1
    return acme, beacon


def test_the_counts_follow_every_kind_of_write(registers, bob, alice):
    acme, beacon = registers
    found = {r.reference: r for r in Record.objects.filter(organisation=acme)}
    record_amend(
        record=found["A1"], values={"region": "Wales"}, reason="Moved", by=bob, version=None
    )
    assert kept(acme)[("region", "Wales")] == 2
    assert_in_step(acme, beacon)

    records_bulk_edit(
        organisation=acme,
        records=Record.objects.filter(organisation=acme),
        field="category",
        value="Health",
        reason="Reclassified",
        by=bob,
    )
    assert kept(acme)[("category", "Health")] == 3
    assert_in_step(acme, beacon)

    record_delete(record=found["A2"], reason="Duplicate", by=bob)
    assert kept(acme)[("region", "Wales")] == 1  # deleted records are not counted
    assert_in_step(acme, beacon)
    record_restore(record=found["A2"], reason="Not a duplicate", by=alice)
    assert kept(acme)[("region", "Wales")] == 2
    assert_in_step(acme, beacon)

    record_create(
        organisation=acme,
        values={"reference": "A4", "name": "Typed in", "status": "registered", "region": "Fife"},
        reason="New charity",
        by=bob,
    )
    assert kept(acme)[("region", "Fife")] == 1
    assert_in_step(acme, beacon)

    # An import that changes some rows and, as a full refresh, marks the rest removed.
    load(acme, bob, [row("A1", status="removed"), row("A3")], mode="full_refresh")
    assert_in_step(acme, beacon)

    with connection.cursor() as cursor:  # outside the app, as psql would
        cursor.execute("UPDATE records_record SET region = 'Kent' WHERE reference = 'A3'")
        cursor.execute("DELETE FROM records_record WHERE reference = 'B1'")
    assert kept(acme)[("region", "Kent")] == 1
    assert ("status", "registered") not in kept(beacon)  # B2 is removed; B1 is gone
    assert_in_step(acme, beacon)


def test_truncating_the_records_empties_the_counts(registers):
    acme, beacon = registers
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's transaction has checks due
        cursor.execute("TRUNCATE records_record CASCADE")
    assert kept(acme) == kept(beacon) == {}
    assert not FacetCount.objects.exists()


def test_a_write_rolled_back_leaves_the_counts_as_they_were(registers, bob):
    acme, _ = registers
    before = kept(acme)
    seen = {}

    def move_everyone():
        with transaction.atomic():
            Record.objects.filter(organisation=acme).update(region="Nowhere")
            seen.update(kept(acme))  # as the writing transaction sees them
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        move_everyone()
    assert seen[("region", "Nowhere")] == 3
    assert kept(acme) == before


def test_a_statement_that_changes_no_facet_adds_no_rows(registers):
    acme, _ = registers
    rows = FacetCount.objects.count()
    Record.objects.filter(organisation=acme).update(name="Renamed")
    assert FacetCount.objects.count() == rows


def test_compacting_folds_the_rows_and_keeps_the_sums(registers, bob):
    acme, beacon = registers
    found = Record.objects.get(organisation=acme, reference="A1")
    for region in ("Kent", "Fife", "Kent"):
        found = record_amend(
            record=found, values={"region": region}, reason="Moved", by=bob, version=None
        )
    before = (kept(acme), kept(beacon))
    assert FacetCount.objects.filter(organisation=acme, field="region").count() > 3
    left = facet_counts_compact()
    assert (kept(acme), kept(beacon)) == before
    assert left == FacetCount.objects.count()
    # One row per region still counted: Kent (A1), Wales (A2), London (A3).
    assert FacetCount.objects.filter(organisation=acme, field="region").count() == 3
    assert facet_counts_compact() == left


def test_the_migration_counts_what_is_there(registers):
    acme, beacon = registers
    FacetCount.objects.all().delete()
    assert kept(acme) == {}
    with connection.cursor() as cursor:
        cursor.execute(RECOUNT)
    assert_in_step(acme, beacon)


def test_compacting_is_a_periodic_task():
    (periodic,) = [
        p
        for p in tasks.app.periodic_registry.periodic_tasks.values()
        if p.task is tasks.facet_counts_compact_job
    ]
    assert periodic.cron == "*/10 * * * *"


def _facets(client, organisation, query=""):
    url = reverse("records:facets", kwargs={"org_slug": organisation.slug}) + query
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return response.content.decode(), [q["sql"] for q in queries.captured_queries]


def test_the_unfiltered_facets_read_the_kept_counts_without_scanning_the_records(
    registers, client, vera
):
    acme, _ = registers
    client.force_login(vera)
    html, queries = _facets(client, acme)
    assert not [sql for sql in queries if '"records_record"' in sql]
    assert "Wales" in html and "Arts" in html
    # An empty filter is no filter.
    _, queries = _facets(client, acme, "?q=&region=")
    assert not [sql for sql in queries if '"records_record"' in sql]


def test_filtered_facets_count_the_matching_records(registers, client, vera):
    acme, _ = registers
    client.force_login(vera)
    html, queries = _facets(client, acme, "?region=Wales")
    assert [sql for sql in queries if '"records_record"' in sql]
    assert "Arts" not in html  # A3 (Arts) is not in Wales
