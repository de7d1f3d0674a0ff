"""Changing one record by hand: amendments, versions, history rows, refusals."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from records.models import Channel, Record
from records.services.amend import (
    StaleRecord,
    record_amend,
    record_create,
    record_delete,
    record_restore,
    record_revert_to_source,
)

History = Record.history.model


@pytest.fixture
def trust(acme, make_records):
    """A record as the source gave it: nothing amended yet."""
    (record,) = make_records(
        acme,
        {
            "reference": "REF-1",
            "name": "Oxford Community Trust",
            "region": "South East",
            "income": Decimal("12000.00"),
        },
    )
    return record


def history(record) -> list:
    return list(History.objects.filter(id=record.pk).order_by("history_id"))


def test_it_marks_a_field_changed_by_hand_as_amended_with_the_value_it_replaced(bob, trust):
    record = record_amend(
        record=trust,
        values={"name": "Oxford Community Trust CIO", "income": Decimal("12500")},
        reason="Their 2025 accounts",
        by=bob,
        version=1,
    )
    record.refresh_from_db()
    assert record.name == "Oxford Community Trust CIO"
    assert record.version == 2
    assert record.amendments["name"]["source"] == "Oxford Community Trust"
    assert record.amendments["income"]["source"] == "12000.00"
    assert record.amendments["name"]["by"] == bob.pk
    assert record.amendments["name"]["by_name"] == "Bob"
    assert record.amendments["name"]["reason"] == "Their 2025 accounts"
    assert set(record.amendments) == {"name", "income"}

    entry = history(record)[-1]
    assert entry.history_type == "~"
    assert entry.history_user == bob
    assert entry.history_change_reason == "Their 2025 accounts"
    assert entry.channel == Channel.WEB
    assert entry.version == 2
    assert entry.changes == {
        "income": ["12000.00", "12500.00"],
        "name": ["Oxford Community Trust", "Oxford Community Trust CIO"],
    }
    assert entry.changed_fields == ["income", "name"]


def test_it_keeps_the_first_source_when_a_field_is_amended_again(bob, alice, trust):
    record_amend(record=trust, values={"name": "First"}, reason="one", by=bob, version=1)
    record = record_amend(
        record=trust, values={"name": "Second"}, reason="two", by=alice, version=2
    )
    assert record.amendments["name"]["source"] == "Oxford Community Trust"
    assert record.amendments["name"]["by"] == alice.pk
    assert record.amendments["name"]["reason"] == "two"


def test_it_clears_the_amendment_when_the_source_value_is_typed_back(bob, trust):
    record_amend(record=trust, values={"name": "Typo"}, reason="oops", by=bob, version=1)
    record = record_amend(
        record=trust, values={"name": "Oxford Community Trust"}, reason="undo", by=bob, version=2
    )
    assert record.amendments == {}
    assert record.version == 3


def test_it_writes_nothing_when_nothing_changes(bob, trust):
    record = record_amend(
        record=trust,
        values={"name": "Oxford Community Trust", "income": Decimal("12000")},
        reason="Checked",
        by=bob,
        version=1,
    )
    assert record.version == 1
    assert record.amendments == {}
    assert len(history(trust)) == 1  # the creation only


def test_it_refuses_a_form_opened_at_an_older_version_and_changes_nothing(bob, alice, trust):
    record_amend(record=trust, values={"name": "Alice's name"}, reason="a", by=alice, version=1)
    with pytest.raises(StaleRecord) as refused:
        record_amend(record=trust, values={"region": "London"}, reason="b", by=bob, version=1)
    assert refused.value.record.version == 2
    trust.refresh_from_db()
    assert (trust.name, trust.region, trust.version) == ("Alice's name", "South East", 2)
    assert len(history(trust)) == 2


def test_it_refuses_a_reason_that_is_blank(bob, trust):
    with pytest.raises(ValueError, match="reason"):
        record_amend(record=trust, values={"name": "X"}, reason="  ", by=bob, version=1)


def test_it_refuses_to_change_the_reference(bob, trust):
    with pytest.raises(ValidationError):
        record_amend(record=trust, values={"reference": "REF-9"}, reason="x", by=bob, version=1)


@pytest.mark.django_db(transaction=True)
def test_it_lets_only_the_first_of_two_concurrent_edits_through(acme, bob, alice, make_records):
    """Two editors opened version 1; both save at the same moment, on two connections."""
    (record,) = make_records(acme, {"reference": "REF-C", "name": "Original"})
    outcome: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def save(who, name):
        try:
            barrier.wait()
            record_amend(record=record, values={"name": name}, reason=name, by=who, version=1)
            outcome[name] = "saved"
        except StaleRecord:
            outcome[name] = "refused"
        finally:
            connection.close()

    threads = [
        threading.Thread(target=save, args=(bob, "Bob's")),
        threading.Thread(target=save, args=(alice, "Alice's")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcome.values()) == ["refused", "saved"]
    winner = next(name for name, result in outcome.items() if result == "saved")
    record.refresh_from_db()
    assert (record.name, record.version) == (winner, 2)
    assert History.objects.filter(id=record.pk, history_type="~").count() == 1


def test_it_creates_a_record_by_hand_with_every_field_amended_from_an_empty_source(acme, bob):
    record = record_create(
        organisation=acme,
        values={
            "reference": "NEW-1",
            "name": "Bath Lido Trust",
            "postcode": "BA2 4AA",
            "registered_on": dt.date(2020, 1, 31),
        },
        reason="Registered last week",
        by=bob,
    )
    assert record.version == 1
    assert set(record.amendments) == {"name", "status", "postcode", "registered_on"}
    assert {a["source"] for a in record.amendments.values()} == {""}
    (entry,) = history(record)
    assert entry.history_type == "+"
    assert entry.changed_fields == []  # creations list no fields (see audit.py)
    assert entry.changes["name"] == ["", "Bath Lido Trust"]
    assert entry.changes["registered_on"] == ["", "2020-01-31"]
    assert "reference" in entry.changes and "income" not in entry.changes


def test_it_refuses_a_reference_already_in_use_even_by_a_deleted_record(acme, bob, trust):
    record_delete(record=trust, reason="Duplicate", by=bob)
    with pytest.raises(ValidationError) as refused:
        record_create(
            organisation=acme, values={"reference": "REF-1", "name": "X"}, reason="x", by=bob
        )
    assert "already exists" in str(refused.value)


def test_it_reverts_a_field_to_its_source_value(bob, trust):
    record_amend(record=trust, values={"region": "London"}, reason="moved", by=bob, version=1)
    record = record_revert_to_source(record=trust, field="region", reason="Not moved", by=bob)
    assert record.region == "South East"
    assert record.amendments == {}
    entry = history(record)[-1]
    assert entry.changes == {"region": ["London", "South East"]}
    assert entry.history_change_reason == "Not moved"


def test_it_clears_an_amendment_whose_value_already_is_the_source(bob, trust):
    record_amend(record=trust, values={"region": "London"}, reason="moved", by=bob, version=1)
    # Someone outside the app put the source value back, leaving the mark behind.
    Record.objects.filter(pk=trust.pk).update(region="South East")
    record = record_revert_to_source(record=trust, field="region", reason="tidy", by=bob)
    assert record.amendments == {}
    assert history(record)[-1].changes == {"amendment:region": ["amended", ""]}


def test_it_cannot_revert_a_required_field_of_a_record_made_by_hand(acme, bob):
    record = record_create(
        organisation=acme, values={"reference": "N-2", "name": "Hand made"}, reason="x", by=bob
    )
    with pytest.raises(ValidationError, match="no source value"):
        record_revert_to_source(record=record, field="name", reason="x", by=bob)


def test_it_deletes_and_restores_with_a_reason(bob, trust):
    deleted = record_delete(record=trust, reason="Duplicate of REF-2", by=bob, version=1)
    assert deleted.deleted_at is not None and deleted.version == 2
    assert not Record.objects.live().filter(pk=trust.pk).exists()
    restored = record_restore(record=trust, reason="Not a duplicate after all", by=bob)
    assert restored.deleted_at is None and restored.version == 3

    _created, gone, back = history(trust)
    assert gone.history_type == "-"
    assert gone.changes == {"deleted_at": ["", deleted.deleted_at.isoformat()]}
    assert gone.changed_fields == []
    assert back.history_type == "~"
    assert back.changes == {"deleted_at": [deleted.deleted_at.isoformat(), ""]}
    assert back.changed_fields == ["deleted_at"]
    assert back.history_change_reason == "Not a duplicate after all"


def test_it_does_not_delete_twice_or_edit_a_deleted_record(bob, trust):
    record_delete(record=trust, reason="x", by=bob)
    record_delete(record=trust, reason="again", by=bob)
    assert len(history(trust)) == 2
    with pytest.raises(ValidationError, match="restore it"):
        record_amend(record=trust, values={"name": "X"}, reason="x", by=bob, version=None)
