"""Bulk edit: one operation, one history row per changed record, nothing for the rest."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from records.models import Changeset, Channel, Record
from records.selectors import facet_values
from records.services.amend import record_amend, record_delete
from records.services.bulk import records_bulk_edit

History = Record.history.model


@pytest.fixture
def register(acme, beacon, make_records):
    make_records(beacon, {"reference": "B-1", "region": "Wales"})
    return make_records(
        acme,
        {"reference": "R-1", "region": "South East", "income": Decimal("10.00")},
        {"reference": "R-2", "region": "London"},
        {"reference": "R-3", "region": "London"},
        {"reference": "R-4", "region": "North West"},
    )


def test_it_sets_one_field_on_the_selection_as_one_operation(acme, bob, register):
    result = records_bulk_edit(
        organisation=acme,
        records=Record.objects.filter(reference__in=["R-1", "R-2", "R-3"]),
        field="region",
        value="London",
        reason="Regions merged",
        by=bob,
    )
    assert (result.selected, result.changed, result.unchanged) == (3, 1, 2)
    changeset = result.changeset
    assert changeset.kind == Changeset.Kind.BULK_EDIT
    assert changeset.channel == Channel.BULK
    assert changeset.user == bob and changeset.reason == "Regions merged"
    assert changeset.summary == "Set Region to “London”"

    (entry,) = History.objects.filter(changeset=changeset)
    assert entry.id == register[0].pk
    assert entry.history_type == "~"
    assert entry.changes == {"region": ["South East", "London"]}
    assert entry.changed_fields == ["region"]
    assert entry.history_user == bob
    assert entry.history_change_reason == "Regions merged"
    assert entry.channel == Channel.BULK
    assert entry.version == 2

    changed, *same = Record.objects.filter(reference__in=["R-1", "R-2", "R-3"]).order_by(
        "reference"
    )
    assert changed.version == 2
    assert changed.amendments["region"]["source"] == "South East"
    assert changed.amendments["region"]["by"] == bob.pk
    assert changed.amendments["region"]["reason"] == "Regions merged"
    # Records that already said London were not touched.
    assert [(r.version, r.amendments) for r in same] == [(1, {}), (1, {})]


def test_it_follows_the_amendment_rules_of_a_single_edit(acme, bob, alice, register):
    r1, r2, *_ = register
    record_amend(record=r1, values={"region": "Kent"}, reason="first", by=alice, version=1)
    records_bulk_edit(
        organisation=acme,
        records=Record.objects.filter(pk__in=[r1.pk, r2.pk]),
        field="region",
        value="South East",
        reason="back to the source",
        by=bob,
    )
    r1.refresh_from_db()
    r2.refresh_from_db()
    assert r1.amendments == {}  # South East was r1's source value
    assert r2.amendments["region"]["source"] == "London"
    records_bulk_edit(
        organisation=acme,
        records=Record.objects.filter(pk=r2.pk),
        field="region",
        value="Surrey",
        reason="again",
        by=alice,
    )
    r2.refresh_from_db()
    assert r2.amendments["region"]["source"] == "London"
    assert r2.amendments["region"]["by_name"] == "Alice"


def test_it_writes_nothing_at_all_when_every_record_already_has_the_value(acme, bob, register):
    result = records_bulk_edit(
        organisation=acme,
        records=Record.objects.filter(region="London"),
        field="region",
        value="London",
        reason="no-op",
        by=bob,
    )
    assert (result.changeset, result.selected, result.changed) == (None, 2, 0)
    assert not Changeset.objects.exists()
    assert History.objects.filter(history_type="~").count() == 0


def test_it_never_reaches_another_organisation_or_a_deleted_record(acme, bob, register):
    record_delete(record=register[3], reason="gone", by=bob)
    result = records_bulk_edit(
        organisation=acme,
        records=Record.objects.all(),
        field="region",
        value="Scotland",
        reason="everything",
        by=bob,
    )
    assert (result.selected, result.changed) == (3, 3)
    assert Record.objects.get(reference="B-1").region == "Wales"
    assert Record.objects.get(reference="R-4").region == "North West"


def test_it_writes_typed_values_and_their_canonical_text(acme, bob, register):
    records_bulk_edit(
        organisation=acme,
        records=Record.objects.filter(reference__in=["R-1", "R-2"]),
        field="income",
        value=Decimal("99.50"),
        reason="typed",
        by=bob,
    )
    entries = dict(History.objects.filter(history_type="~").values_list("reference", "changes"))
    assert entries == {"R-1": {"income": ["10.00", "99.50"]}, "R-2": {"income": ["", "99.50"]}}
    assert Record.objects.get(reference="R-2").amendments["income"]["source"] == ""


def test_it_adds_a_new_value_to_the_filter_menus(acme, bob, register):
    records_bulk_edit(
        organisation=acme,
        records=Record.objects.filter(reference="R-1"),
        field="region",
        value="Isle of Man",
        reason="x",
        by=bob,
    )
    assert "Isle of Man" in facet_values(acme)["region"]


def test_it_refuses_the_reference(acme, bob, register):
    with pytest.raises(ValidationError):
        records_bulk_edit(
            organisation=acme,
            records=Record.objects.all(),
            field="reference",
            value="X",
            reason="no",
            by=bob,
        )


def test_it_selects_by_values_that_hold_percent_signs(acme, bob, make_records):
    make_records(acme, {"reference": "P-1", "category": "100% Fun"})
    result = records_bulk_edit(
        organisation=acme,
        records=Record.objects.filter(category="100% Fun"),
        field="region",
        value="50% North",
        reason="percent",
        by=bob,
    )
    assert result.changed == 1
    assert Record.objects.get(reference="P-1").region == "50% North"


def test_it_refuses_more_records_than_a_request_can_change(acme, bob, register, monkeypatch):
    monkeypatch.setattr("records.services.bulk.MAX_RECORDS", 3)
    with pytest.raises(ValidationError, match="at most 3 at once"):
        records_bulk_edit(
            organisation=acme,
            records=Record.objects.all(),
            field="region",
            value="Kent",
            reason="too many",
            by=bob,
        )
    assert not Changeset.objects.exists()
    assert not Record.objects.filter(region="Kent").exists()
