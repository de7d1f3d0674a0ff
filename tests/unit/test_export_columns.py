"""Export columns: headers the importer reads back, and SQL that escapes as escape_formula does."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import TextField, Value
from django.db.models.sql import Query
from django.http import QueryDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from records.fields import CORE_FIELDS, FIELD_NAMES
from records.models import Record
from records.resources import RecordResource, column_headers
from records.services.exports import records_view, stream_csv
from records.services.exports.columns import SpreadsheetText, record_columns
from records.services.exports.xlsxfile import xml_text
from records.services.imports.mapping import suggest_columns
from records.services.register import register_note
from records.spreadsheets import escape_formula


def headers(*extra_keys: str, remembered: dict | None = None) -> list[str]:
    return column_headers(FIELD_NAMES, list(extra_keys), remembered=remembered or {})


def targets(names: list[str], remembered: dict | None = None) -> list[str]:
    return list(suggest_columns(names, remembered or {}).targets)


def test_it_names_core_columns_by_field_name():
    assert headers() == list(FIELD_NAMES)


def test_it_prefixes_extra_keys_the_importer_would_read_as_fields():
    chosen = headers("trustees", "Name", "charity_type", "Registered On", "telephone")
    assert chosen[len(FIELD_NAMES) :] == [
        "trustees",
        "extra:Name",
        "extra:charity_type",  # "charity type" is an alias of category
        "extra:Registered On",
        "telephone",
    ]
    assert targets(chosen)[len(FIELD_NAMES) :] == [
        "extra:trustees",
        "extra:Name",
        "extra:charity_type",
        "extra:Registered On",
        "extra:telephone",
    ]


def test_it_prefixes_keys_that_would_run_as_formulas_or_clash():
    chosen = headers("=cmd()", "Notes", "notes", "extra:odd")
    assert chosen[len(FIELD_NAMES) :] == ["extra:=cmd()", "Notes", "extra:notes", "extra:extra:odd"]
    assert targets(chosen)[len(FIELD_NAMES) :] == [
        "extra:=cmd()",
        "extra:Notes",
        "extra:notes",
        "extra:extra:odd",
    ]


def test_it_steers_round_what_the_organisation_remembered_for_a_header():
    # This organisation once mapped a "name" column (a contact) to extra, and "notes" to
    # the name: the export must still be read back as it was written.
    remembered = {"name": "extra:name", "notes": "name"}
    chosen = headers("notes", remembered=remembered)
    assert chosen[1] == "charity name"  # the first alias that still reads as the name
    assert chosen[-1] == "extra:notes"
    assert targets(chosen, remembered) == [*FIELD_NAMES, "extra:notes"]


extra_keys = st.lists(
    st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=30).map(str.strip),
    max_size=8,
).map(lambda keys: list(dict.fromkeys(k for k in keys if k)))


@given(keys=extra_keys)
def test_it_always_picks_headers_the_importer_reads_back(keys):
    chosen = headers(*keys)
    squashed = {"".join(h.split()).casefold() for h in chosen}
    if len(squashed) < len(chosen):
        return  # keys that differ only in case and spacing: no spelling can tell them apart
    assert targets(chosen) == [*FIELD_NAMES, *(f"extra:{key}" for key in keys)]
    assert all(escape_formula(header) == header for header in chosen)


@pytest.mark.django_db
def test_it_declares_the_same_columns_for_both_engines(acme, make_records):
    make_records(acme, {"extra": {"Name": "x", "trustees": "3"}})
    register_note(organisation=acme, extra_columns=["trustees", "Name"])
    resource = RecordResource(organisation=acme)
    columns = record_columns(resource)
    assert [c.header for c in columns] == resource.get_export_headers()
    assert [c.header for c in columns][len(CORE_FIELDS) :] == ["trustees", "extra:Name"]


@pytest.mark.django_db
def test_it_writes_the_same_cells_as_django_import_export(acme, make_records):
    make_records(
        acme,
        {"reference": "007", "name": "=1+1", "income": Decimal("-1.50"), "extra": {"k": "@x"}},
        {"reference": "R2", "registered_on": dt.date(1999, 12, 31), "postcode": "OX1 2AB"},
    )
    register_note(organisation=acme, extra_columns=["k"])
    view = records_view(organisation=acme, params=QueryDict(""))
    ours = b"".join(stream_csv(queryset=view.queryset, columns=view.columns)).decode("utf-8-sig")
    theirs = RecordResource(organisation=acme).export(view.queryset).csv
    assert list(csv.reader(io.StringIO(ours))) == list(csv.reader(io.StringIO(theirs)))


# -- the escaping, in SQL and in Python ---------------------------------------------


def sql_escape(text: str) -> str | None:
    query = Query(Record)
    expression = SpreadsheetText(Value(text, output_field=TextField())).resolve_expression(query)
    sql, params = expression.as_sql(query.get_compiler(connection=connection), connection)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql}", params)
        return cursor.fetchone()[0]


cell_text = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)))


@pytest.mark.django_db
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=cell_text | st.sampled_from(["=1", "'=1", "''+x", "-", "@", "\t", "\r", "'", "a=b"]))
def test_it_escapes_in_sql_exactly_as_escape_formula_does(text):
    assert sql_escape(text) == (escape_formula(text) or None)


def test_it_writes_header_text_as_xml_safely():
    assert xml_text("a & <b>") == "<t>a &amp; &lt;b&gt;</t>"
    assert xml_text(" lead") == '<t xml:space="preserve"> lead</t>'
    assert (
        xml_text("x\ry_x0041_\x01") == '<t xml:space="preserve">x_x000D_y_x005F_x0041__x0001_</t>'
    )
