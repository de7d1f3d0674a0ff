"""Export → import of the same file changes nothing, in CSV and XLSX, for any register.

The records are generated as the importer stores them: text as a cell gives it (escaped
when it would run as a formula, so kept verbatim; else stripped), postcodes normalised,
decimals with two places, any date a Python date can be, extra columns of any name.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.http import QueryDict
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from accounts.models import Organisation
from records.fields import CORE_FIELDS, FIELDS_BY_NAME, InvalidValue, Kind, Status
from records.models import ImportRun, Record
from records.services import exports, imports
from records.services.imports.rows import cell_text, converter
from records.services.register import register_note
from records.services.seed import records_seed
from records.spreadsheets import escape_formula

FORMATS = ("csv", "xlsx")
_organisations = itertools.count()

# Characters that spreadsheets, CSV, XML and the importer each treat specially.
NASTY = "=+-@'\"\t\r\n ,;|<>&_\\/\x01\x0b\x1f\u00a0\u2028\ufeff"
# Not NUL, which PostgreSQL text cannot hold, nor U+FFFE and U+FFFF: XML cannot hold them,
# Excel writes them as _xFFFE_ and _xFFFF_, and calamine reads those back as written
# (test_it_writes_unicode_noncharacters_as_excel_does below).
text_characters = st.characters(
    exclude_characters="\x00\ufffe\uffff", exclude_categories=("Cs",)
) | st.sampled_from(NASTY)
snippets = st.sampled_from(["_x0041_", "<r>x</r>", "=SUM(A1:A2)", "007", "'", "Zürich", "😀"])
raw_text = st.lists(text_characters | snippets, max_size=12).map("".join)


def stored(name: str, raw: str) -> object:
    """The value the importer stores from a cell holding `raw`, escaped as a person would."""
    core = FIELDS_BY_NAME[name]
    try:
        return converter(core)(escape_formula(raw))
    except InvalidValue:
        return None if core.required else core.empty


def stored_extra(raw: str) -> str:
    """The same for an extra column (records/services/imports/rows.py, RowParser.parse)."""
    cell = escape_formula(raw)
    return cell_text(cell) if cell and cell[0] in "'=+-@\t\r" else cell.strip()


def field_value(core) -> st.SearchStrategy:
    if core.kind is Kind.CHOICE:
        return st.sampled_from(Status.values)
    if core.kind is Kind.DECIMAL:
        return st.none() | st.decimals(
            min_value=Decimal("-999999999999.99"),
            max_value=Decimal("999999999999.99"),
            places=2,
            allow_nan=False,
            allow_infinity=False,
        )
    if core.kind is Kind.DATE:
        return st.none() | st.dates() | st.sampled_from([dt.date(1900, 2, 28), dt.date(1900, 3, 1)])
    long_text = st.text(text_characters, min_size=core.max_length - 3, max_size=core.max_length)
    return (raw_text | long_text).map(lambda raw: stored(core.name, raw))


EXTRA_KEYS = ["trustees", "Name", "charity_type", "=cmd", "notes ", "Zürich key", "a;b", "x\ny"]
extra_values = raw_text | st.text(text_characters, min_size=300, max_size=2000)


@st.composite
def records(draw) -> list[dict]:
    count = draw(st.integers(min_value=1, max_value=6))
    references = draw(
        st.lists(field_value(FIELDS_BY_NAME["reference"]), min_size=count, max_size=count)
    )
    references = [reference for reference in dict.fromkeys(references) if reference]
    assume(references)
    rows = []
    for reference in references:
        row = {"reference": reference}
        for core in CORE_FIELDS[1:]:
            row[core.name] = draw(field_value(core))
        row["name"] = row["name"] or "A Charity"
        keys = draw(st.lists(st.sampled_from(EXTRA_KEYS), unique=True, max_size=4))
        values = {key.strip(): stored_extra(draw(extra_values)) for key in keys}
        row["extra"] = {key: value for key, value in values.items() if value}
        row["amend"] = draw(st.sampled_from([None, "name", "status", "income", "registered_on"]))
        rows.append(row)
    return rows


def make_register(rows: list[dict], user) -> Organisation:
    organisation = Organisation.objects.create(
        name="Round trip", slug=f"round-trip-{next(_organisations)}"
    )
    records_seed(
        organisation=organisation,
        rows=[{k: v for k, v in row.items() if k != "amend"} for row in rows],
        by=user,
        reason="Round trip",
        extra_columns=[key.strip() for key in EXTRA_KEYS],
    )
    # Amended fields too: their export holds the person's value, not the source's.
    for row in rows:
        if row["amend"]:
            amendment = {"source": "an older source value", "by": user.pk, "reason": "By hand"}
            Record.objects.filter(organisation=organisation, reference=row["reference"]).update(
                amendments={row["amend"]: amendment}
            )
    return organisation


def round_trip(organisation: Organisation, user, fmt: str) -> ImportRun:
    view = exports.records_view(organisation=organisation, params=QueryDict(""))
    out = io.BytesIO()
    export = exports.export_csv if fmt == "csv" else exports.export_xlsx
    export(queryset=view.queryset, columns=view.columns, out=out)
    run = imports.import_create(
        organisation=organisation,
        user=user,
        file=ContentFile(out.getvalue(), name=f"export.{fmt}"),
        filename=f"export.{fmt}",
        defer=False,
    )
    assert run.status == ImportRun.Status.PREVIEWING, (run.error, run.column_map)
    return imports.import_preview(run=run)


def assert_no_changes(run: ImportRun, rows: int) -> None:
    issues = list(run.issues.values_list("row", "column", "message")[:5])
    assert run.status == ImportRun.Status.PREVIEWED, run.error
    assert run.counts | {"issues": issues} == run.counts | {
        "rows": rows,
        "new": 0,
        "changed": 0,
        "conflicting": 0,
        "invalid": 0,
        "unchanged": rows,
        "issues": [],
    }, [(s["reference"], s["changes"], s["conflicts"]) for s in run.samples["changed"]]


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=records())
def test_it_reads_back_every_export_unchanged(bob, rows):
    organisation = make_register(rows, bob)
    for fmt in FORMATS:
        assert_no_changes(round_trip(organisation, bob, fmt), len(rows))


@pytest.mark.parametrize("fmt", FORMATS)
def test_it_reads_back_the_hard_cases(acme, bob, alice, make_records, fmt):
    make_records(
        acme,
        {
            "reference": "00123",  # leading zeros
            "name": "=SUM(A1:A2)",
            "category": "-minus",
            "region": "@at",
            "postcode": "+44",
            "income": Decimal("-12.50"),
            "registered_on": dt.date(1850, 1, 1),  # before Excel's dates
            "extra": {
                "Name": "reads as a field",
                "charity_type": "'=already escaped",
                "notes": "line1\nline2\r\nline3",
                "tab": "\tleading tab",
                "uni": "Zürich 😀 日本 \u2028 line separator",
                "ctrl": "a\x01b\x1fc",
                "esc": "_x0041_ literal",
                "long": "y" * 5000,
                "xml": "<r>&amp;</r>",
                "back": "a\\b\\n",
            },
        },
        {
            "reference": "0001",
            "name": "Plain",
            "income": Decimal("999999999999.99"),
            "registered_on": dt.date(1900, 3, 1),
            "extra": {"notes": "=1+1 "},
        },
        {"reference": "R3", "name": "Feb 1900", "registered_on": dt.date(1900, 2, 28)},
        {"reference": "R4", "name": "Last day", "registered_on": dt.date(9999, 12, 31)},
        {"reference": "R5", "name": "Empty everything", "status": "dissolved"},
    )
    keys = ["Name", "charity_type", "notes", "tab", "uni", "ctrl", "esc", "long", "xml", "back"]
    register_note(organisation=acme, extra_columns=keys)
    record = Record.objects.get(reference="0001")
    record.amendments = {"name": {"source": "Plain before", "by": alice.pk, "reason": "Typo"}}
    record.save()
    assert_no_changes(round_trip(acme, bob, fmt), 5)


def test_it_writes_unicode_noncharacters_as_excel_does(acme, bob, make_records):
    make_records(acme, {"reference": "N1", "name": "Not \ufffe a \uffff character"})
    assert_no_changes(round_trip(acme, bob, "csv"), 1)
    # In XLSX they are _xFFFE_ and _xFFFF_, as Excel and XlsxWriter write them; calamine
    # (which the importer reads XLSX with) decodes _xHHHH_ only below U+D800.
    run = round_trip(acme, bob, "xlsx")
    assert run.counts["changed"] == 1
    (sample,) = run.samples["changed"]
    assert sample["changes"] == {
        "name": ["Not \ufffe a \uffff character", "Not _xFFFE_ a _xFFFF_ character"]
    }
