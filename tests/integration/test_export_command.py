"""manage.py export_records: the web's export, from the command line."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from python_calamine import CalamineWorkbook

from records.services import exports


@pytest.fixture
def register(acme, beacon, make_records):
    make_records(beacon, {"reference": "B-1", "name": "Oxford Beacon Trust"})
    return make_records(
        acme,
        {"reference": "R-1", "name": "Oxford Community Trust", "income": Decimal("10.00")},
        {"reference": "R-2", "name": "Leeds Food Bank", "status": "removed"},
        {"reference": "R-3", "name": "Oxford Rowing Club", "income": Decimal("99.00")},
    )


def export(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_records", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_writes_the_same_csv_as_the_web(register, acme, client_for, vera, tmp_path):
    path = tmp_path / "acme.csv"
    out, err = export("--org", "acme", "-o", str(path), "--filter", "q=oxford", "--sort=-income")
    web = client_for(vera).get(
        reverse("records:export_csv", args=["acme"]), {"q": "oxford", "sort": "-income"}
    )
    assert path.read_bytes() == b"".join(web.streaming_content)
    assert f"Wrote 2 records (q-oxford) to {path}" in out
    assert "exporting [##############################] 2/2" in err  # the progress bar
    assert not list(tmp_path.glob("*.partial"))


def test_it_writes_xlsx_with_filters(register, tmp_path):
    path = tmp_path / "export.xlsx"
    export("--org", "acme", "--format", "xlsx", "-o", str(path), "--filter", "status=registered")
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    assert [row[0] for row in rows] == ["reference", "R-1", "R-3"]


def test_it_writes_csv_to_standard_output(register, capsysbinary):
    call_command("export_records", "--org", "acme", "-o", "-", "--filter", "status=removed")
    content = capsysbinary.readouterr().out.decode("utf-8-sig")
    assert [row[0] for row in csv.reader(io.StringIO(content))] == ["reference", "R-2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--filter", "colour=red"], "Unknown filter colour: use one of"),
        (["--filter", "income_min=lots"], "income: Enter a number."),
        (["--filter", "status=gone"], "status: Select a valid choice."),
        (["--filter", "status"], "--filter wants FIELD=VALUE"),
        (["--sort", "postcode"], "Cannot sort by “postcode”"),
    ],
)
def test_it_refuses_bad_filters_clearly(register, tmp_path, args, message):
    path = tmp_path / "x.csv"
    with pytest.raises(CommandError, match=message):
        export("--org", "acme", "-o", str(path), *args)
    assert not path.exists()


def test_it_refuses_what_it_cannot_do(register, tmp_path):
    with pytest.raises(CommandError, match="No organisation with the slug “nope”"):
        export("--org", "nope", "-o", str(tmp_path / "x.csv"))
    with pytest.raises(CommandError, match="Say --format csv or xlsx"):
        export("--org", "acme", "-o", str(tmp_path / "x.txt"))
    with pytest.raises(CommandError, match="Only CSV can go to standard output"):
        export("--org", "acme", "--format", "xlsx", "-o", "-")


def test_it_leaves_no_half_file_when_it_fails(register, tmp_path, monkeypatch):
    def broken(**kwargs):
        kwargs["out"].write(b"half")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(exports, "export_csv", broken)
    path = tmp_path / "x.csv"
    with pytest.raises(RuntimeError):
        export("--org", "acme", "-o", str(path))
    assert list(tmp_path.iterdir()) == []
