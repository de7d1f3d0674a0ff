"""The import pipeline: preview, apply, the amendment rules, conflicts, atomicity and locking."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
import threading
import time
from decimal import Decimal

import psycopg
import pytest
import xlsxwriter
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from records.history import entry_changes
from records.models import Changeset, Channel, Conflict, ImportRun, Record, Register
from records.selectors import facet_values
from records.services import imports
from records.services.amend import record_create
from records.services.imports import pipeline
from scripts.embedded_pg import with_database
from tests.helpers import HEADERS, amend, apply, csv_bytes, load, preview, records, row, start

Status = ImportRun.Status


# -- the first import -------------------------------------------------------------------


def test_it_previews_without_writing_anything(acme, bob):
    run = preview(acme, bob, csv_bytes([row("R1"), row("R2")]))
    assert run.status == Status.PREVIEWED
    assert run.counts["new"] == 2
    assert run.counts["rows"] == 2
    assert [s["reference"] for s in run.samples["new"]] == ["R1", "R2"]
    assert not Record.objects.filter(organisation=acme).exists()
    assert Record.history.count() == 0


def test_it_imports_new_records_with_one_history_row_each(acme, bob):
    run = load(acme, bob, [row("R1", income="1,234.5", postcode="sw1a1aa"), row("R2")])
    assert run.status == Status.APPLIED, run.error
    assert run.counts["new"] == 2
    found = records(acme)
    assert found["R1"].income == Decimal("1234.50")
    assert found["R1"].postcode == "SW1A 1AA"
    assert found["R1"].registered_on == dt.date(2001, 2, 3)
    assert found["R1"].extra == {"charity_type": "CIO"}
    history = Record.history.filter(organisation_id=acme.pk)
    assert history.count() == 2
    entry = history.get(reference="R1")
    assert (entry.history_type, entry.channel, entry.history_user, entry.history_change_reason) == (
        "+",
        Channel.IMPORT,
        bob,
        "Monthly refresh",
    )
    assert entry.changeset == run.changeset
    # A creation in bulk stores no diff: it is the snapshot beside it.
    assert entry.changes == {}
    created = entry_changes(entry)
    assert created["name"] == ["", "Charity R1"]
    assert created["extra.charity_type"] == ["", "CIO"]
    assert created["income"] == ["", "1234.50"]
    assert run.changeset.kind == Changeset.Kind.IMPORT
    register = Register.objects.get(organisation=acme)
    assert register.extra_columns == ["charity_type"]
    assert facet_values(acme)["category"] == ["Education/training"]


def test_it_changes_nothing_when_the_same_file_comes_again(acme, bob):
    load(acme, bob, [row("R1"), row("R2")])
    versions = {r.reference: r.version for r in records(acme).values()}
    history = Record.history.count()
    run = load(acme, bob, [row("R1"), row("R2")])
    assert run.counts == run.counts | {"new": 0, "changed": 0, "conflicting": 0, "unchanged": 2}
    assert Record.history.count() == history
    assert {r.reference: r.version for r in records(acme).values()} == versions


def test_it_takes_source_values_for_fields_nobody_amended(acme, bob):
    load(acme, bob, [row("R1"), row("R2")])
    run = load(acme, bob, [row("R1", name="Renamed", income="2000"), row("R2")])
    assert (run.counts["changed"], run.counts["unchanged"]) == (1, 1)
    record = records(acme)["R1"]
    assert (record.name, record.income, record.version) == ("Renamed", Decimal("2000.00"), 2)
    entry = Record.history.filter(id=record.pk).latest()
    assert entry.changes == {"income": ["1000.00", "2000.00"], "name": ["Charity R1", "Renamed"]}
    assert entry.changed_fields == ["income", "name"]


def test_it_leaves_fields_the_file_does_not_have(acme, bob):
    load(acme, bob, [row("R1", website="www.one.org")])
    run = load(
        acme, bob, [{"reference": "R1", "status": "suspended"}], headers=["reference", "status"]
    )
    record = records(acme)["R1"]
    assert run.counts["changed"] == 1
    assert (record.status, record.website, record.name) == (
        "suspended",
        "www.one.org",
        "Charity R1",
    )
    assert record.extra == {"charity_type": "CIO"}


def test_it_needs_a_name_for_new_records_when_the_file_has_none(acme, bob):
    load(acme, bob, [row("R1")])
    run = preview(
        acme,
        bob,
        csv_bytes(
            [{"reference": "R1", "status": "removed"}, {"reference": "NEW", "status": "removed"}],
            ["reference", "status"],
        ),
    )
    assert run.counts["invalid"] == 1
    (issue,) = run.issues.all()
    assert issue.row == 3
    assert "new record needs Name" in issue.message


def test_it_updates_extra_columns_present_in_the_file_and_keeps_the_others(acme, bob):
    load(acme, bob, [row("R1", trustees="7")], headers=[*HEADERS, "trustees"])
    load(acme, bob, [row("R1", charity_type="Trust")])
    assert records(acme)["R1"].extra == {"charity_type": "Trust", "trustees": "7"}
    load(acme, bob, [row("R1", charity_type="")])
    assert records(acme)["R1"].extra == {"trustees": "7"}


# -- amendments survive ----------------------------------------------------------------


def test_it_keeps_an_amended_value_when_the_source_does_not_move(acme, bob, alice):
    load(acme, bob, [row("R1")])
    amend(records(acme)["R1"], alice, name="Hand-corrected name")
    run = load(acme, bob, [row("R1")])
    assert run.counts["unchanged"] == 1
    assert records(acme)["R1"].name == "Hand-corrected name"
    assert not Conflict.objects.exists()


def test_it_records_a_conflict_when_the_source_moves_under_an_amendment(acme, bob, alice):
    load(acme, bob, [row("R1")])
    amend(records(acme)["R1"], alice, name="Hand-corrected name")
    run = load(acme, bob, [row("R1", name="New source name", income="5000")])
    assert (run.counts["conflicting"], run.counts["changed"]) == (1, 0)
    record = records(acme)["R1"]
    assert record.name == "Hand-corrected name"  # the person's value stands
    assert record.income == Decimal("5000.00")  # the other field took the source
    assert record.amendments["name"]["source"] == "New source name"
    conflict = Conflict.objects.get()
    assert (conflict.field, conflict.old_source, conflict.new_source, conflict.amended_value) == (
        "name",
        "Charity R1",
        "New source name",
        "Hand-corrected name",
    )
    assert (conflict.amended_by, conflict.amended_reason, conflict.import_run) == (
        alice,
        "By hand",
        run,
    )
    assert conflict.resolved_at is None
    # The same file again: nothing new.
    again = load(acme, bob, [row("R1", name="New source name", income="5000")])
    assert again.counts["unchanged"] == 1
    assert Conflict.objects.count() == 1
    # The source moves again: the open conflict follows it.
    load(acme, bob, [row("R1", name="Newer source name", income="5000")])
    conflict = Conflict.objects.get()
    assert (conflict.old_source, conflict.new_source) == ("Charity R1", "Newer source name")


def test_it_sees_no_conflict_when_the_source_comes_round_to_the_amendment(acme, bob, alice):
    # What importing an export of the register brings: the amended value as the source.
    load(acme, bob, [row("R1")])
    amend(records(acme)["R1"], alice, name="Hand-corrected name")
    run = load(acme, bob, [row("R1", name="Hand-corrected name")])
    assert run.counts == run.counts | {"changed": 0, "conflicting": 0, "unchanged": 1}
    assert not Conflict.objects.exists()
    record = records(acme)["R1"]
    assert record.name == "Hand-corrected name"
    # The amendment stands, still remembering the value it replaced: when the source
    # goes back to that, nothing moved under the person; when it moves on, it conflicts.
    assert record.amendments["name"]["source"] == "Charity R1"
    assert load(acme, bob, [row("R1")]).counts["conflicting"] == 0
    assert load(acme, bob, [row("R1", name="Another name")]).counts["conflicting"] == 1


def test_it_previews_conflicts_with_what_each_side_says(acme, bob, alice):
    load(acme, bob, [row("R1")])
    amend(records(acme)["R1"], alice, name="Hand-corrected name")
    run = preview(acme, bob, csv_bytes([row("R1", name="New source name")]))
    (sample,) = run.samples["conflicting"]
    (conflict,) = sample["conflicts"]
    assert conflict["field"] == "name"
    assert conflict["new_source"] == "New source name"
    assert conflict["amended_value"] == "Hand-corrected name"
    assert not Conflict.objects.exists()


# -- full refresh ----------------------------------------------------------------------


def test_it_marks_records_missing_from_a_full_refresh_removed(acme, bob, alice):
    load(acme, bob, [row("R1"), row("R2"), row("R3"), row("R4")])
    amend(records(acme)["R3"], alice, status="suspended")
    Record.objects.filter(reference="R4").update(deleted_at=timezone.now())
    preview_run = preview(acme, bob, csv_bytes([row("R1")]))
    assert (preview_run.counts["absent"], preview_run.counts["absent_conflicts"]) == (1, 1)

    upsert = load(acme, bob, [row("R1")])
    assert upsert.counts.get("removed") == 0
    assert records(acme)["R2"].status == "registered"

    run = load(acme, bob, [row("R1")], mode="full_refresh")
    found = records(acme)
    assert run.counts["removed"] == 1
    assert found["R2"].status == "removed"  # never deleted, marked removed
    assert found["R2"].deleted_at is None
    assert found["R3"].status == "suspended"  # amended: kept, with a conflict
    assert Conflict.objects.get(record=found["R3"]).new_source == "removed"
    assert found["R4"].status == "registered"  # deleted by hand: left alone
    entry = Record.history.filter(id=found["R2"].pk).latest()
    assert entry.changes == {"status": ["registered", "removed"]}
    assert entry.changeset == run.changeset


# -- bad rows ----------------------------------------------------------------------------


def test_it_blocks_the_apply_while_rows_are_invalid(acme, bob):
    run = preview(
        acme, bob, csv_bytes([row("R1"), row("R2", income="lots", registered_on="31/02/2020")])
    )
    assert run.counts["invalid"] == 1
    issues = list(run.issues.order_by("column").values_list("row", "column", "message"))
    assert issues == [
        (3, "income", "“lots” is not a number"),
        (3, "registered_on", "“31/02/2020” is not a date (use YYYY-MM-DD or DD/MM/YYYY)"),
    ]
    with pytest.raises(ValidationError, match="1 rows are invalid"):
        imports.import_confirm(run=run, reason="x", mode="upsert", skip_invalid=False, by=bob)
    applied = apply(run, bob, skip_invalid=True)
    assert applied.counts["new"] == 1
    assert set(records(acme)) == {"R1"}


def test_it_refuses_duplicate_references_in_a_file(acme, bob):
    run = preview(acme, bob, csv_bytes([row("R1"), row("R2"), row("R1", name="Again")]))
    assert (run.counts["invalid"], run.counts["new"]) == (2, 1)
    messages = list(run.issues.order_by("row").values_list("row", "message"))
    assert [number for number, _ in messages] == [2, 4]
    assert "appears more than once in the file (rows 2, 4)" in messages[0][1]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (row("R1"), row("R1", name="Changed")),  # skipped as unchanged, then parsed
        (row("R1", name="Changed"), row("R1")),
        (row("R1", income="lots"), row("R1")),  # invalid, then skipped as unchanged
        (row("R1", name="Changed"), row("R1", income="lots")),  # parsed, then invalid
    ],
)
def test_it_refuses_a_repeated_reference_however_each_row_was_read(acme, bob, first, second):
    load(acme, bob, [row("R1"), row("R2")])
    run = preview(acme, bob, csv_bytes([first, row("R2"), second]))
    messages = list(run.issues.filter(column="reference").values_list("row", "message"))
    assert [number for number, _ in sorted(messages)] == [2, 4]
    assert run.counts["invalid"] == 2


def test_it_looks_for_repeated_references_in_sql_only_when_a_reference_repeats(acme, bob):
    load(acme, bob, [row("R1")])
    rows = [row("R1"), row("R2"), row("R3", income="lots"), row("", name="No reference")]
    with CaptureQueriesContext(connection) as queries:
        clean = preview(acme, bob, csv_bytes([*rows, row("", name="Another")]))
    assert not any("repeated_references" in q["sql"] for q in queries)
    assert clean.counts["invalid"] == 3
    with CaptureQueriesContext(connection) as queries:
        repeated = preview(acme, bob, csv_bytes([*rows, row("R3")]))
    assert any("repeated_references" in q["sql"] for q in queries)
    assert repeated.counts["invalid"] == 3  # R3's rows; the blank reference's


def test_it_rejects_formulas_and_undoes_export_escaping(acme, bob):
    run = preview(
        acme,
        bob,
        csv_bytes(
            [
                row("R1", name="=cmd|' /C calc'!A0"),
                row("R2", name="'=SUM(A1)", charity_type="'+44 20 7946 0000"),
                row("R3", name="+44 Club", charity_type="@SUM(1+1)"),
            ]
        ),
    )
    issues = {(i.row, i.column): i.message for i in run.issues.all()}
    assert "looks like a spreadsheet formula" in issues[(2, "name")]
    assert "looks like a spreadsheet formula" in issues[(4, "charity_type")]
    apply(run, bob, skip_invalid=True)
    record = records(acme)["R2"]
    assert (record.name, record.extra["charity_type"]) == ("=SUM(A1)", "+44 20 7946 0000")


def test_it_strips_a_postcode_that_came_escaped(acme, bob):
    # An escaped cell is kept verbatim, but white space at either end of a postcode is
    # noise: kept, it would read back from an export as a different (stripped) value.
    load(acme, bob, [row("R1", postcode="'\tsw1a1aa"), row("R2", postcode="'\t")])
    found = records(acme)
    assert (found["R1"].postcode, found["R2"].postcode) == ("SW1A 1AA", "")


# -- columns ---------------------------------------------------------------------------


def test_it_asks_for_columns_when_there_is_no_reference(acme, bob):
    run = start(
        acme,
        bob,
        csv_bytes([{"Charity no": "R1", "Charity name": "Trust"}], ["Charity no", "Charity name"]),
    )
    assert run.status == Status.MAPPING
    assert "No column is mapped to Reference" in run.error
    assert run.column_map == [["Charity no", "extra:Charity no"], ["Charity name", "name"]]


def test_it_matches_headers_by_alias_case_and_spacing(acme, bob):
    run = start(
        acme,
        bob,
        csv_bytes(
            [
                {
                    "Registered  Number": "R1",
                    "CHARITY_NAME": "Trust",
                    "Date registered": "2001-01-01",
                    "Trustees": "5",
                }
            ],
            ["Registered  Number", "CHARITY_NAME", "Date registered", "Trustees"],
        ),
    )
    assert run.status == Status.PREVIEWING
    assert run.column_map == [
        ["Registered  Number", "reference"],
        ["CHARITY_NAME", "name"],
        ["Date registered", "registered_on"],
        ["Trustees", "extra:Trustees"],
    ]


def test_it_remembers_the_columns_an_organisation_chose(acme, bob):
    content = csv_bytes(
        [{"Charity no": "R1", "Title of charity": "Trust"}], ["Charity no", "Title of charity"]
    )
    run = start(acme, bob, content)
    assert run.status == Status.MAPPING
    run = imports.import_set_columns(
        run=run, choices={"Charity no": "reference", "Title of charity": "name"}, defer=False
    )
    run = imports.import_preview(run=run)
    apply(run, bob)
    assert records(acme)["R1"].name == "Trust"
    again = start(acme, bob, content)
    assert again.status == Status.PREVIEWING
    assert again.column_map == [["Charity no", "reference"], ["Title of charity", "name"]]


def test_it_reads_extra_prefixed_headers_as_extra_columns(acme, bob):
    run = start(
        acme,
        bob,
        csv_bytes(
            [{"reference": "R1", "name": "x", "extra:type": "CIO"}],
            ["reference", "name", "extra:type"],
        ),
    )
    assert run.column_map == [
        ["reference", "reference"],
        ["name", "name"],
        ["extra:type", "extra:type"],
    ]


def test_it_refuses_a_column_map_with_a_field_twice(acme, bob):
    run = start(acme, bob, csv_bytes([{"a": "R1", "b": "x"}], ["a", "b"]))
    with pytest.raises(ValidationError, match="both mapped to Reference"):
        imports.import_set_columns(
            run=run, choices={"a": "reference", "b": "reference"}, defer=False
        )


# -- one transaction, one at a time ----------------------------------------------------------


def test_it_changes_nothing_when_the_apply_fails(acme, bob, monkeypatch):
    load(acme, bob, [row("R1")])
    before = Record.history.count()
    changesets = Changeset.objects.count()

    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    run = preview(acme, bob, csv_bytes([row("R1", name="Changed"), row("R2")]))
    monkeypatch.setattr(pipeline, "remove_absent", explode)
    failed = apply(run, bob, mode="full_refresh")
    assert failed.status == Status.FAILED
    assert "nothing was changed" in failed.error
    assert set(records(acme)) == {"R1"}
    assert records(acme)["R1"].name == "Charity R1"
    assert Record.history.count() == before
    assert Changeset.objects.count() == changesets

    monkeypatch.undo()
    retried = imports.import_apply(run=imports.import_retry(run=failed, defer=False))
    assert retried.status == Status.APPLIED
    assert records(acme)["R1"].name == "Changed"


def _apply_while(run, user, monkeypatch, meanwhile) -> ImportRun:
    """Apply `run`, calling `meanwhile()` once, after the first plan and before the writes."""
    run = imports.import_confirm(
        run=run, reason="x", mode="upsert", skip_invalid=False, by=user, defer=False
    )
    real_build = pipeline.build_plan
    done = []

    def build_then_meanwhile(sql, **options):
        real_build(sql, **options)
        if not done:
            done.append(meanwhile())

    monkeypatch.setattr(pipeline, "build_plan", build_then_meanwhile)
    return imports.import_apply(run=run)


def test_it_never_overwrites_an_edit_made_while_it_runs(acme, bob, alice, monkeypatch):
    load(acme, bob, [row("R1"), row("R2")])
    run = preview(acme, bob, csv_bytes([row("R1", name="Source says"), row("R2", name="Also new")]))
    # An editor saves R1.
    applied = _apply_while(
        run, bob, monkeypatch, lambda: amend(records(acme)["R1"], alice, name="Editor says")
    )
    assert applied.status == Status.APPLIED, applied.error
    found = records(acme)
    assert found["R1"].name == "Editor says"  # planned again: the amendment stands
    assert Conflict.objects.get(record=found["R1"]).new_source == "Source says"
    assert found["R2"].name == "Also new"
    assert applied.counts["passes"] == 2


def test_a_record_someone_creates_while_it_runs_is_planned_again(acme, bob, alice, monkeypatch):
    load(acme, bob, [row("R1")])
    run = preview(
        acme, bob, csv_bytes([row("R1", name="Source says"), row("N1"), row("N2", name="New")])
    )
    # An editor types in N1 by hand.
    applied = _apply_while(
        run,
        bob,
        monkeypatch,
        lambda: record_create(
            organisation=acme,
            values={"reference": "N1", "name": "Typed in"},
            reason="Phoned in",
            by=alice,
        ),
    )
    assert applied.status == Status.APPLIED, applied.error
    found = records(acme)
    # Not inserted over it: planned again as the record it now is, whose typed-in name
    # is an amendment the source now disagrees with.
    assert found["N1"].name == "Typed in"
    assert Conflict.objects.get(record=found["N1"], field="name").new_source == "Charity N1"
    assert found["N2"].name == "New"
    assert found["R1"].name == "Source says"
    assert applied.counts["passes"] == 2
    assert (applied.counts["new"], applied.counts["changed"]) == (1, 1)
    assert applied.counts["conflicting"] == 1
    # Its creation by hand, then the import filling the fields nobody typed in.
    typed, imported = Record.history.filter(id=found["N1"].pk).order_by("history_id")
    assert (typed.channel, imported.channel) == (Channel.WEB, Channel.IMPORT)
    assert "name" not in entry_changes(imported) and "postcode" in entry_changes(imported)


@pytest.mark.django_db(transaction=True)
def test_it_applies_one_import_at_a_time_per_organisation(acme, bob):
    run = load(acme, bob, [row("R1")])
    second = preview(acme, bob, csv_bytes([row("R1", name="Second")]))
    second = imports.import_confirm(
        run=second, reason="x", mode="upsert", skip_invalid=False, by=bob, defer=False
    )
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params) as holder:  # another import holds the organisation
        holder.execute("SELECT pg_advisory_xact_lock(%s, %s)", [imports.IMPORT_LOCK_CLASS, acme.pk])
        result = {}
        worker = threading.Thread(
            target=lambda: result.update(run=imports.import_apply(run=second))
        )
        worker.start()
        time.sleep(1.0)
        assert worker.is_alive()  # waiting for the lock
        assert records(acme)["R1"].name == "Charity R1"
        holder.rollback()
        worker.join(timeout=30)
    assert result["run"].status == Status.APPLIED
    assert records(acme)["R1"].name == "Second"
    assert run.status == Status.APPLIED


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_apply_changes_nothing_and_the_run_can_be_retried(acme, bob):
    load(acme, bob, [row("R1")])
    run = preview(
        acme, bob, csv_bytes([row("R1", name="Changed"), *(row(f"N{i}") for i in range(50))])
    )
    run = imports.import_confirm(
        run=run, reason="x", mode="upsert", skip_invalid=False, by=bob, defer=False
    )
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "site_config.test_settings",
        "DATABASE_URL": with_database(os.environ["DATABASE_URL"], connection.settings_dict["NAME"]),
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (ours,) = cursor.fetchone()
    with psycopg.connect(**params) as blocker:
        # Hold R1 so the apply blocks after inserting the new records.
        blocker.execute("SELECT id FROM records_record WHERE reference = 'R1' FOR UPDATE")
        worker = subprocess.Popen(
            [
                sys.executable,
                "-c",
                (
                    "import django; django.setup();"
                    "from records.models import ImportRun; from records.services import imports;"
                    f"imports.import_apply(run=ImportRun.objects.get(pk={run.pk}))"
                ),
            ],
            env=env,
        )
        deadline = time.monotonic() + 30
        while ImportRun.objects.get(pk=run.pk).phase != "Writing records":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(1.0)  # inside the INSERT … / UPDATE …, waiting for R1
        worker.kill()
        worker.wait()
        # Its backends (the apply, waiting on R1, and its progress connection) notice the
        # lost client only when they next write to it; end them now, as PostgreSQL would
        # then. The apply's transaction rolls back either way.
        others = (
            "FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid NOT IN (pg_backend_pid(), %s)"
        )
        blocker.execute(f"SELECT pg_terminate_backend(pid) {others}", [ours])
        blocker.rollback()
        deadline = time.monotonic() + 30
        while left := blocker.execute(
            f"SELECT pid, backend_start, state, query {others}", [ours]
        ).fetchall():
            assert time.monotonic() < deadline, f"backends still there: {left}"
            # pg_stat_activity is read once per transaction: look again in a new one.
            blocker.rollback()
            time.sleep(0.05)
    assert set(records(acme)) == {"R1"}
    assert records(acme)["R1"].name == "Charity R1"
    stuck = ImportRun.objects.get(pk=run.pk)
    assert stuck.status == Status.APPLYING
    assert not imports.import_fail_if_dead(run=stuck)  # not yet: it might be slow
    assert imports.import_fail_if_dead(run=stuck, now=timezone.now() + imports.DEAD_AFTER)
    assert stuck.status == Status.FAILED
    assert "worker stopped" in stuck.error
    retried = imports.import_apply(run=imports.import_retry(run=stuck, defer=False))
    assert retried.status == Status.APPLIED
    assert len(records(acme)) == 51


# -- planning -----------------------------------------------------------------------------


def _manual_analyses() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT analyze_count FROM pg_stat_user_tables WHERE relid = 'records_record'::regclass"
        )
        return cursor.fetchone()[0]


def _flush_statistics() -> None:
    # Table statistics reach the shared counters when a backend goes idle; force it.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")


@pytest.mark.django_db(transaction=True)
def test_a_register_that_changed_a_lot_is_analysed_before_an_import_is_planned(
    acme, bob, make_records, monkeypatch
):
    # Unanalysed, a register that just grew looks like "one row" to the planner, and
    # the import's joins with the staged file become quadratic.
    monkeypatch.setattr(pipeline, "STALE_STATISTICS_ROWS", 20)
    make_records(acme, *({"reference": f"R{i}"} for i in range(30)))
    _flush_statistics()
    before = _manual_analyses()
    preview(acme, bob, csv_bytes([row("R1")]))
    assert _manual_analyses() == before + 1

    preview(acme, bob, csv_bytes([row("R2")]))  # nothing changed since: no second ANALYZE
    assert _manual_analyses() == before + 1


# -- spreadsheets -------------------------------------------------------------------------


def test_it_imports_xlsx(acme, bob):
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("Register")
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, HEADERS)
    sheet.write_row(1, 0, ["R1", "Bath Lido", "registered", "Arts", "South West", "BA2 4AA"])
    sheet.write_number(1, 6, 1234.5)
    sheet.write_datetime(1, 7, dt.datetime(1999, 12, 31), date)
    sheet.write_row(2, 0, [123456, "Numbered", "Removed"])
    book.close()
    run = preview(acme, bob, out.getvalue(), filename="register.xlsx")
    assert run.options["format"] == "xlsx"
    apply(run, bob)
    found = records(acme)
    assert (found["R1"].income, found["R1"].registered_on) == (
        Decimal("1234.50"),
        dt.date(1999, 12, 31),
    )
    assert found["123456"].status == "removed"


# -- the fingerprint fast path -------------------------------------------------------------


def test_it_skips_rows_imported_before_from_the_same_cells(acme, bob):
    load(acme, bob, [row("R1"), row("R2")])
    assert all(r.source_hash for r in records(acme).values())
    run = preview(acme, bob, csv_bytes([row("R1"), row("R2", name="Changed")]))
    assert (run.counts["unchanged"], run.counts["changed"]) == (1, 1)
    # The same values written differently are compared in full, and found unchanged.
    again = preview(acme, bob, csv_bytes([row("R1", income="1,000.00"), row("R2")]))
    assert again.counts["unchanged"] == 2


def test_it_compares_in_full_a_record_changed_outside_the_app(acme, bob):
    load(acme, bob, [row("R1")])
    with connection.cursor() as cursor:  # as psql would: no audited transaction
        cursor.execute("UPDATE records_record SET name = 'Typed in psql' WHERE reference = 'R1'")
    record = records(acme)["R1"]
    assert record.source_hash is None
    assert Record.history.filter(id=record.pk).latest().channel == Channel.DB
    run = load(acme, bob, [row("R1")])
    assert run.counts["changed"] == 1
    assert records(acme)["R1"].name == "Charity R1"  # the source value, not amended by a person


def test_it_treats_the_same_cells_under_another_column_map_as_new_source(acme, bob):
    load(acme, bob, [row("R1")])
    headers = [h if h != "charity_type" else "kind" for h in HEADERS]
    run = preview(acme, bob, csv_bytes([{**row("R1"), "kind": "CIO"}], headers))
    assert run.counts["changed"] == 1  # extra.kind is new


def test_it_reads_a_stored_file_larger_than_one_storage_chunk(acme, bob):
    # The stored file is read from PostgreSQL a megabyte at a time; the import must not
    # need the database connection for that while its COPY is under way.
    rows = [row(f"R{i:06d}", name=f"Charity number {i} " + "x" * 60) for i in range(16_000)]
    content = csv_bytes(rows)
    assert len(content) > 2 * 1024 * 1024
    run = preview(acme, bob, content)
    assert run.status == Status.PREVIEWED, run.error
    assert run.counts["new"] == 16_000


def test_it_does_not_take_an_invalid_row_for_a_missing_record_in_a_full_refresh(acme, bob):
    load(acme, bob, [row("R1"), row("R2")])
    run = load(
        acme, bob, [row("R1"), row("R2", income="lots")], mode="full_refresh", skip_invalid=True
    )
    assert (run.counts["invalid"], run.counts["removed"]) == (1, 0)
    assert records(acme)["R2"].status == "registered"


def test_it_refuses_both_rows_of_a_reference_given_twice_when_one_is_bad(acme, bob):
    run = preview(acme, bob, csv_bytes([row("R1", income="lots"), row("R1"), row("R2")]))
    assert (run.counts["invalid"], run.counts["new"]) == (2, 1)
    assert set(run.issues.values_list("row", "column")) == {
        (2, "income"),
        (2, "reference"),
        (3, "reference"),
    }


# -- the rows a preview checked ------------------------------------------------------------


def _kept(run) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [pipeline.kept_table(run.pk)])
        return cursor.fetchone()[0]


@pytest.fixture
def file_reads(monkeypatch):
    """How many times imports opened a stored file as a spreadsheet."""
    reads = []
    real = imports.open_sheet

    def counting(*args, **kwargs):
        reads.append(kwargs.get("filename"))
        return real(*args, **kwargs)

    monkeypatch.setattr(imports, "open_sheet", counting)
    return reads


def test_the_apply_takes_the_rows_the_preview_checked_without_reading_the_file(
    acme, bob, file_reads
):
    load(acme, bob, [row("R1"), row("R2")])
    rows = [row("R1"), row("R2", name="Changed"), row("R3"), row("R4", income="lots")]
    run = preview(acme, bob, csv_bytes([*rows, row("R5"), row("R5")]))
    assert _kept(run)
    reads = len(file_reads)
    applied = apply(run, bob, skip_invalid=True)
    assert applied.status == Status.APPLIED, applied.error
    assert len(file_reads) == reads
    assert (
        {k: applied.counts[k] for k in ("unchanged", "changed", "new", "invalid", "issues")}
        == {k: run.counts[k] for k in ("unchanged", "changed", "new", "invalid", "issues")}
        == {"unchanged": 1, "changed": 1, "new": 1, "invalid": 3, "issues": 3}
    )
    assert set(records(acme)) == {"R1", "R2", "R3"}
    assert records(acme)["R2"].name == "Changed"
    assert not _kept(applied)


@pytest.mark.parametrize("lost", ["TRUNCATE", "DROP TABLE"])
def test_the_apply_reads_the_file_again_when_the_kept_rows_are_lost(acme, bob, file_reads, lost):
    run = preview(acme, bob, csv_bytes([row("R1"), row("R2")]))
    with connection.cursor() as cursor:  # a crash empties an unlogged table
        cursor.execute(f"{lost} {pipeline.kept_table(run.pk)}")
    reads = len(file_reads)
    applied = apply(run, bob)
    assert applied.status == Status.APPLIED, applied.error
    assert len(file_reads) == reads + 1
    assert (applied.counts["new"], set(records(acme))) == (2, {"R1", "R2"})


def _skipped_rows_checked(queries) -> int:
    """How many of the queries compared the rows skipped as unchanged with their records."""
    return sum("WHERE s.unchanged AND r.source_hash" in q["sql"] for q in queries)


def test_an_apply_that_reads_the_file_again_refuses_its_repeated_references(acme, bob):
    load(acme, bob, [row("R1")])
    run = preview(acme, bob, csv_bytes([row("R1"), row("R2"), row("R1", name="Again")]))
    assert run.counts["invalid"] == 2
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {pipeline.kept_table(run.pk)}")
    applied = apply(run, bob, skip_invalid=True)
    assert (applied.status, applied.counts["invalid"]) == (Status.APPLIED, 2)
    found = records(acme)
    assert (set(found), found["R1"].name) == ({"R1", "R2"}, "Charity R1")


def test_the_apply_reads_the_file_again_when_another_import_moved_a_row_it_skipped(
    acme, bob, file_reads
):
    load(acme, bob, [row("R1"), row("R2")])
    run = preview(acme, bob, csv_bytes([row("R1"), row("R2", name="Changed")]))
    assert run.counts["unchanged"] == 1  # R1: skipped by its fingerprint, never parsed
    load(acme, bob, [row("R1", name="From another file")])
    reads = len(file_reads)
    with CaptureQueriesContext(connection) as queries:
        applied = apply(run, bob)
    assert applied.status == Status.APPLIED, applied.error
    assert _skipped_rows_checked(queries) == 1
    assert len(file_reads) == reads + 1
    found = records(acme)
    assert (found["R1"].name, found["R2"].name) == ("Charity R1", "Changed")


def test_the_apply_checks_skipped_rows_again_after_any_import_into_the_register(
    acme, bob, file_reads
):
    load(acme, bob, [row("R1"), row("R2"), row("R3")])
    run = preview(acme, bob, csv_bytes([row("R1"), row("R2", name="Changed")]))
    load(acme, bob, [row("R3", name="Moved")])  # not a row of this file
    reads = len(file_reads)
    with CaptureQueriesContext(connection) as queries:
        applied = apply(run, bob)
    assert _skipped_rows_checked(queries) == 1
    # R1's source did not move: the kept rows are still good.
    assert (applied.status, len(file_reads)) == (Status.APPLIED, reads)
    assert (applied.counts["unchanged"], applied.counts["changed"]) == (1, 1)


def test_the_apply_reads_the_file_again_when_a_skipped_row_was_changed_outside_the_app(
    acme, bob, file_reads
):
    load(acme, bob, [row("R1"), row("R2")])
    run = preview(acme, bob, csv_bytes([row("R1"), row("R2", name="Changed")]))
    with connection.cursor() as cursor:  # as psql would: no audited transaction
        cursor.execute("UPDATE records_record SET name = 'Typed in psql' WHERE reference = 'R1'")
    reads = len(file_reads)
    applied = apply(run, bob)
    assert (applied.status, len(file_reads)) == (Status.APPLIED, reads + 1)
    found = records(acme)
    assert (found["R1"].name, found["R2"].name) == ("Charity R1", "Changed")


def test_the_apply_trusts_skipped_rows_when_no_import_moved_a_source(acme, beacon, bob, file_reads):
    load(acme, bob, [row("R1"), row("R2")])
    run = preview(acme, bob, csv_bytes([row("R1"), row("R2", name="Changed")]))
    # Meanwhile: a person's edit (it moves no source) and an import into another register.
    amend(records(acme)["R1"], bob, name="By hand")
    load(beacon, bob, [row("R1", name="Beacon's own")])
    reads = len(file_reads)
    with CaptureQueriesContext(connection) as queries:
        applied = apply(run, bob)
    assert applied.status == Status.APPLIED, applied.error
    assert (_skipped_rows_checked(queries), len(file_reads)) == (0, reads)
    found = records(acme)
    assert (found["R1"].name, found["R2"].name) == ("By hand", "Changed")
    assert applied.counts["unchanged"] == 1


def test_the_apply_checks_again_what_depends_on_the_register(acme, bob, file_reads):
    # Without a name column, a reference not in the register cannot be created: R2 is
    # invalid in the preview; created meanwhile, it is updated by the apply.
    load(acme, bob, [row("R1")])
    headers = [h for h in HEADERS if h != "name"]
    run = preview(
        acme, bob, csv_bytes([row("R1", income="5.00"), row("R2", income="7.00")], headers)
    )
    assert (run.counts["invalid"], run.counts["changed"]) == (1, 1)
    load(acme, bob, [row("R2")])
    applied = apply(run, bob, skip_invalid=True)
    assert (applied.counts["invalid"], applied.counts["changed"]) == (0, 2)
    assert records(acme)["R1"].income == Decimal("5.00")
    assert records(acme)["R2"].income == Decimal("7.00")


def test_discarding_a_run_drops_its_kept_rows(acme, bob):
    run = preview(acme, bob, csv_bytes([row("R1")]))
    assert _kept(run)
    imports.import_cancel(run=run)
    assert not _kept(run)


def test_the_kept_rows_of_runs_that_will_not_be_applied_expire(acme, bob):
    pending = preview(acme, bob, csv_bytes([row("R1")]))
    old = preview(acme, bob, csv_bytes([row("R2")]))
    ImportRun.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - imports.KEEP_STAGED_FOR - dt.timedelta(minutes=1)
    )
    stopped = preview(acme, bob, csv_bytes([row("R3")]))
    ImportRun.objects.filter(pk=stopped.pk).update(status=Status.INVALID)
    assert imports.import_staging_expire() == 2
    assert (_kept(pending), _kept(old), _kept(stopped)) == (True, False, False)
    assert imports.import_staging_expire() == 0
    # An old preview can still be applied: from its file.
    old.refresh_from_db()
    assert apply(old, bob).status == Status.APPLIED
    assert set(records(acme)) == {"R2"}


def test_it_expires_kept_rows_as_a_periodic_task():
    from records import tasks  # noqa: PLC0415

    (periodic,) = [
        p
        for p in tasks.app.periodic_registry.periodic_tasks.values()
        if p.task is tasks.import_staging_expire_job
    ]
    assert periodic.cron == "17 * * * *"
