"""manage.py import_records: the same pipeline, in the foreground, non-zero when nothing changed."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from records.models import Channel, ImportRun, Record
from tests.helpers import csv_bytes, row


def run(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("import_records", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


@pytest.fixture
def register_csv(tmp_path):
    path = tmp_path / "register.csv"
    path.write_bytes(csv_bytes([row("R1"), row("R2")]))
    return path


def test_it_imports_a_file(acme, bob, register_csv):
    output = run(str(register_csv), "--org", "acme", "--user", "bob", "--reason", "Nightly load")
    assert "2 rows: 2 new" in output
    assert "Applied in" in output
    assert Record.objects.filter(organisation=acme).count() == 2
    assert set(Record.history.values_list("channel", "history_change_reason")) == {
        (Channel.IMPORT, "Nightly load")
    }
    assert ImportRun.objects.get().channel == Channel.CLI


def test_it_checks_without_changing_anything_on_a_dry_run(acme, bob, register_csv):
    output = run(str(register_csv), "--org", "acme", "--user", "bob", "--reason", "x", "--dry-run")
    assert "Dry run: nothing was changed." in output
    assert not Record.objects.exists()


def test_it_fails_having_changed_nothing_when_rows_are_invalid(acme, bob, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(csv_bytes([row("R1"), row("R2", registered_on="2020-02-30")]))
    with pytest.raises(CommandError, match="1 rows are invalid; nothing was changed"):
        run(str(path), "--org", "acme", "--user", "bob", "--reason", "x")
    assert not Record.objects.exists()
    output = run(str(path), "--org", "acme", "--user", "bob", "--reason", "x", "--skip-invalid")
    assert "row 3, registered_on: “2020-02-30” is not a date" in output
    assert set(Record.objects.values_list("reference", flat=True)) == {"R1"}


def test_it_fails_on_a_file_that_is_not_a_spreadsheet(acme, bob, tmp_path):
    path = tmp_path / "picture.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    with pytest.raises(CommandError, match="This is an image"):
        run(str(path), "--org", "acme", "--user", "bob", "--reason", "x")
    assert not ImportRun.objects.exists()


def test_it_maps_columns_given_on_the_command_line(acme, bob, tmp_path):
    path = tmp_path / "odd.csv"
    path.write_bytes(
        csv_bytes([{"No": "R1", "Title": "Trust", "Notes": "x"}], ["No", "Title", "Notes"])
    )
    with pytest.raises(CommandError, match="Use --map COLUMN=reference"):
        run(str(path), "--org", "acme", "--user", "bob", "--reason", "x")
    run(
        str(path),
        "--org",
        "acme",
        "--user",
        "bob",
        "--reason",
        "x",
        "--map",
        "No=reference",
        "--map",
        "Title=name",
        "--map",
        "Notes=ignore",
    )
    record = Record.objects.get()
    assert (record.reference, record.name, record.extra) == ("R1", "Trust", {})


def test_it_marks_missing_records_removed_on_a_full_refresh(acme, bob, register_csv, tmp_path):
    run(str(register_csv), "--org", "acme", "--user", "bob", "--reason", "x")
    smaller = tmp_path / "smaller.csv"
    smaller.write_bytes(csv_bytes([row("R1")]))
    output = run(str(smaller), "--org", "acme", "--user", "bob", "--reason", "x", "--full-refresh")
    assert "1 marked removed" in output
    assert Record.objects.get(reference="R2").status == "removed"


@pytest.mark.parametrize(
    ("user", "org", "message"),
    [
        ("vera", "acme", "importing needs an editor"),
        ("charlie", "acme", "not a member"),
        ("nobody", "acme", "No active user"),
        ("bob", "nowhere", "not a member"),
    ],
)
def test_it_refuses_people_who_may_not_import(
    acme, bob, vera, charlie, register_csv, user, org, message
):
    with pytest.raises(CommandError, match=message):
        run(str(register_csv), "--org", org, "--user", user, "--reason", "x")
    assert not Record.objects.exists()


def test_it_says_which_column_a_bad_map_names(acme, bob, register_csv):
    with pytest.raises(CommandError, match="the file has no column 'Nope'"):
        run(
            str(register_csv),
            "--org",
            "acme",
            "--user",
            "bob",
            "--reason",
            "x",
            "--map",
            "Nope=name",
        )
