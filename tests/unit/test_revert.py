"""Managers revert a record to an earlier version or undo one change; nothing is erased."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from records.history import undoable_fields
from records.models import Record
from records.services.amend import StaleRecord, record_amend, record_delete
from records.services.revert import record_revert, record_undo

History = Record.history.model


@pytest.fixture
def trust(acme, make_records):
    (record,) = make_records(
        acme,
        {
            "reference": "REF-1",
            "name": "Oxford Trust",
            "region": "South East",
            "income": Decimal("100.00"),
            "extra": {"trustees": "7"},
        },
    )
    return record


def entries(record) -> list:
    return list(History.objects.filter(id=record.pk).order_by("history_id"))


def test_it_reverts_a_record_to_an_earlier_version_as_a_new_entry(alice, bob, trust):
    record_amend(record=trust, values={"name": "Oxford Trust CIO"}, reason="1", by=bob, version=1)
    record_amend(
        record=trust,
        values={"region": "London", "income": Decimal("5")},
        reason="2",
        by=bob,
        version=2,
    )
    created, first, _ = entries(trust)

    record = record_revert(record=trust, entry=first, reason="Second edit was wrong", by=alice)
    assert (record.name, record.region, record.income) == (
        "Oxford Trust CIO",
        "South East",
        Decimal("100.00"),
    )
    assert record.version == 4
    # Amendments follow the values: region and income are back at their source values.
    assert set(record.amendments) == {"name"}
    *kept, revert = entries(trust)
    assert len(kept) == 3  # nothing erased
    assert revert.history_user == alice
    assert revert.history_change_reason == "Second edit was wrong"
    assert revert.changes == {"income": ["5.00", "100.00"], "region": ["London", "South East"]}

    back_to_source = record_revert(record=trust, entry=created, reason="all wrong", by=alice)
    assert back_to_source.amendments == {}
    assert back_to_source.name == "Oxford Trust"


def test_it_undoes_one_field_of_one_change(alice, bob, trust):
    record_amend(
        record=trust, values={"name": "Renamed", "region": "London"}, reason="x", by=bob, version=1
    )
    change = entries(trust)[-1]
    assert undoable_fields(change) == ["name", "region"]

    record = record_undo(
        record=trust, entry=change, fields=["region"], reason="Wrong region", by=alice
    )
    assert (record.name, record.region) == ("Renamed", "South East")
    assert set(record.amendments) == {"name"}
    assert entries(trust)[-1].changes == {"region": ["London", "South East"]}


@pytest.mark.django_db(transaction=True)
def test_it_undoes_a_whole_change_including_extra_columns(alice, trust):
    # A real transaction per statement: the services' "audited" flag lasts until the end
    # of a transaction, so inside one test transaction the trigger would stay quiet.
    Record.objects.filter(pk=trust.pk).update(extra={"trustees": "9", "added": "yes"}, name="Db")
    direct = entries(trust)[-1]
    assert direct.channel == "db"
    trust.refresh_from_db()

    record = record_undo(record=trust, entry=direct, reason="Unauthorised change", by=alice)
    assert record.name == "Oxford Trust"
    assert record.extra == {"trustees": "7"}
    assert entries(trust)[-1].changes == {
        "extra.added": ["yes", ""],
        "extra.trustees": ["9", "7"],
        "name": ["Db", "Oxford Trust"],
    }


def test_it_writes_nothing_when_the_undo_changes_nothing(alice, bob, trust):
    record_amend(record=trust, values={"name": "Renamed"}, reason="x", by=bob, version=1)
    change = entries(trust)[-1]
    record_undo(record=trust, entry=change, reason="once", by=alice)
    record_undo(record=trust, entry=change, reason="twice", by=alice)
    assert len(entries(trust)) == 3


def test_it_refuses_a_creation_an_unknown_field_and_another_records_entry(
    alice, acme, make_records, trust
):
    (other,) = make_records(acme, {"reference": "REF-2"})
    created = entries(trust)[0]
    with pytest.raises(ValidationError):
        record_undo(record=trust, entry=created, reason="x", by=alice)
    with pytest.raises(ValidationError):
        record_revert(record=other, entry=created, reason="x", by=alice)
    record_amend(record=trust, values={"name": "R"}, reason="x", by=alice, version=1)
    with pytest.raises(ValidationError):
        record_undo(record=trust, entry=entries(trust)[-1], fields=["region"], reason="x", by=alice)


def test_it_refuses_a_stale_revert_and_a_deleted_record(alice, bob, trust):
    record_amend(record=trust, values={"name": "R"}, reason="x", by=bob, version=1)
    created = entries(trust)[0]
    with pytest.raises(StaleRecord):
        record_revert(record=trust, entry=created, reason="x", by=alice, version=1)
    record_delete(record=trust, reason="gone", by=bob)
    with pytest.raises(ValidationError, match="restore it"):
        record_revert(record=trust, entry=created, reason="x", by=alice)
