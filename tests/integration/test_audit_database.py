"""What PostgreSQL itself guarantees about the audit trail, tested from outside the app.

Changes made on a separate connection (as psql would) are recorded as direct database
changes with the database role; changes made by the app are recorded exactly once, by
the app; history rows can be neither updated nor deleted, except by prune_history.
These tests commit for real (transaction=True): the triggers and the guard act per
transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from records.models import Channel, Record
from records.services.amend import record_amend

History = Record.history.model

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def psql():
    """A connection of its own to the test database, as a person in psql would have."""
    params = connection.get_connection_params()
    wanted = {k: params[k] for k in ("dbname", "user", "password", "host", "port") if k in params}
    with psycopg.connect(**wanted, autocommit=True) as conn:
        yield conn


@pytest.fixture
def trust(acme, make_records):
    (record,) = make_records(
        acme, {"reference": "REF-1", "name": "Oxford Trust", "extra": {"trustees": "7"}}
    )
    return record


def rows(record) -> list:
    return list(History.objects.filter(id=record.pk).order_by("history_id"))


def test_it_records_a_change_made_in_psql_as_a_direct_database_change(psql, trust):
    role = psql.execute("SELECT session_user").fetchone()[0]
    psql.execute(
        "UPDATE records_record SET name = 'Renamed in psql', "
        'extra = extra || \'{"trustees": "9"}\' WHERE id = %s',
        [trust.pk],
    )
    _created, direct = rows(trust)
    assert direct.channel == Channel.DB
    assert direct.db_user == role
    assert direct.history_type == "~"
    assert direct.history_user is None and direct.history_change_reason is None
    assert direct.changes == {
        "extra.trustees": ["7", "9"],
        "name": ["Oxford Trust", "Renamed in psql"],
    }
    assert direct.changed_fields == ["extra.trustees", "name"]
    trust.refresh_from_db()
    assert trust.version == 2 == direct.version  # the trigger bumped it, for optimistic locking


def test_it_records_a_psql_insert_and_delete_and_ignores_an_update_that_changes_nothing(
    psql, acme, trust
):
    psql.execute("UPDATE records_record SET name = name WHERE id = %s", [trust.pk])
    assert len(rows(trust)) == 1
    new_id = psql.execute(
        "INSERT INTO records_record (organisation_id, reference, name, status, category, "
        "region, postcode, website, extra, amendments, version, created_at, updated_at) "
        "VALUES (%s, 'PSQL-1', 'Typed in psql', 'registered', '', '', '', '', '{}', '{}', 1, "
        "now(), now()) RETURNING id",
        [acme.pk],
    ).fetchone()[0]
    psql.execute("DELETE FROM records_record WHERE id = %s", [new_id])
    types = list(
        History.objects.filter(id=new_id)
        .order_by("history_id")
        .values_list("history_type", "channel", "changed_fields")
    )
    assert types == [("+", "db", []), ("-", "db", [])]


def test_it_records_a_change_made_by_the_app_once_with_user_and_reason(psql, trust, bob):
    record_amend(record=trust, values={"name": "Renamed"}, reason="Typo", by=bob, version=1)
    _, by_app = rows(trust)
    assert (by_app.channel, by_app.history_user, by_app.history_change_reason) == (
        Channel.WEB,
        bob,
        "Typo",
    )
    assert by_app.db_user == ""
    # The app's write set the flag for its own transaction only: psql is still watched.
    psql.execute("UPDATE records_record SET region = 'Kent' WHERE id = %s", [trust.pk])
    assert [entry.channel for entry in rows(trust)] == ["cli", "web", "db"]


def test_it_records_a_save_in_a_shell_that_bypasses_the_services(trust):
    trust.name = "Saved in a shell"
    trust.save()
    direct = rows(trust)[-1]
    assert (direct.channel, direct.changes["name"][1]) == (Channel.DB, "Saved in a shell")


def test_it_refuses_to_update_or_delete_history(psql, trust):
    for statement in (
        "UPDATE records_historicalrecord SET history_change_reason = 'forged'",
        "DELETE FROM records_historicalrecord",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            psql.execute(statement)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        History.objects.filter(id=trust.pk).update(history_change_reason="forged")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        History.objects.filter(id=trust.pk).delete()
    assert rows(trust)[0].history_change_reason == "Test data"


# -- retention ---------------------------------------------------------------------------


def old_row(record, *, days_ago: int) -> None:
    """Insert a history row dated in the past (inserting is all history allows)."""
    History.objects.create(
        **{f.attname: getattr(record, f.attname) for f in History.tracked_fields},
        history_date=timezone.now() - dt.timedelta(days=days_ago),
        history_type="~",
        channel=Channel.WEB,
        history_change_reason="old",
        changes={"name": ["a", "b"]},
        changed_fields=["name"],
    )


def prune(*args) -> str:
    out = StringIO()
    call_command("prune_history", *args, stdout=out)
    return out.getvalue()


def test_it_prunes_history_only_when_told_and_says_so_loudly(
    acme, beacon, make_records, trust, caplog, psql
):
    (theirs,) = make_records(beacon, {"reference": "B-1"})
    old_row(trust, days_ago=400)
    old_row(trust, days_ago=200)
    old_row(theirs, days_ago=400)
    cutoff = (timezone.localdate() - dt.timedelta(days=300)).isoformat()

    output = prune("--before", cutoff)
    assert "Would delete 2 history rows of every organisation" in output
    assert "Nothing deleted" in output
    assert History.objects.count() == 5

    with caplog.at_level(logging.WARNING, logger="records.services.retention"):
        output = prune("--before", cutoff, "--org", "acme", "--yes")
    assert "Deleted 1 history rows of acme" in output
    assert "lifting the append-only guard" in caplog.text
    assert "deleted 1 history rows of acme (channel web)" in caplog.text
    assert History.objects.filter(id=trust.pk).count() == 2  # the creation and the 200-day row
    assert History.objects.filter(id=theirs.pk).count() == 2

    # The guard is back for everyone else.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        psql.execute("DELETE FROM records_historicalrecord")


def test_it_refuses_a_bad_date_or_organisation():
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        prune("--before", "last year")
    with pytest.raises(CommandError, match="No organisation"):
        prune("--before", "2020-01-01", "--org", "nope")
