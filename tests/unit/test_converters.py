"""The import's converters (records/services/imports/rows.py) take shortcuts for the
common cells: a number or a date already as PostgreSQL reads it is passed on as text, a
postcode already as the register writes it is kept. Each must store exactly what the
field's own parser (records/fields.py, CoreField.parse) would, and refuse what it refuses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from records.fields import FIELDS_BY_NAME, InvalidValue
from records.services.imports.rows import converter


def stored_text(name: str, raw) -> str | None:
    """The canonical text of what the converter stores for `raw`; None if it refuses it."""
    core = FIELDS_BY_NAME[name]
    try:
        value = converter(core)(raw)
    except InvalidValue:
        return None
    if isinstance(value, str) and name == "registered_on":
        value = dt.date.fromisoformat(value)
    return _canonical(core, value)


def parsed_text(name: str, raw) -> str | None:
    core = FIELDS_BY_NAME[name]
    try:
        return _canonical(core, core.parse(raw))
    except InvalidValue:
        return None


def _canonical(core, value) -> str:
    if value is not None and core.name == "income":
        # As PostgreSQL reads text or a Decimal into numeric(14, 2), which has no -0.
        value = Decimal(value) + 0
    return core.to_text(value)


numbers = st.from_regex(r"-?[0-9]{1,14}(\.[0-9]{0,3})?([eE][+-]?[0-9]{1,2})?", fullmatch=True)
dates = (
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True)
    | st.dates().map(str)
    | st.from_regex(r"[0-9]{4}-W[0-9]{2}-[0-9]", fullmatch=True)  # ISO week dates
)
postcodes = st.from_regex(
    r"[A-Za-z]{1,3}[0-9][A-Za-z0-9]?[ ]{0,2}[0-9][A-Za-z]{2,3}", fullmatch=True
)


@given(numbers)
def test_a_plain_number_is_stored_as_the_field_parses_it(raw):
    assert stored_text("income", raw) == parsed_text("income", raw)


@given(
    st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(min_value=-1e13, max_value=1e13).map(lambda x: round(x, 2))
    | st.integers(min_value=-(10**15), max_value=10**15)
)
def test_a_spreadsheet_number_is_stored_as_the_field_parses_it(raw):
    # (An XLSX cell holds a float or an int, not text.)
    assert stored_text("income", raw) == parsed_text("income", raw)


@given(dates)
def test_an_iso_date_is_stored_as_the_field_parses_it(raw):
    assert stored_text("registered_on", raw) == parsed_text("registered_on", raw)


@given(postcodes)
def test_a_postcode_is_stored_as_the_field_parses_it(raw):
    assert stored_text("postcode", raw) == parsed_text("postcode", raw)


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("income", "8896.7", "8896.70"),
        ("income", "-0", "0.00"),
        ("income", "007", "7.00"),
        ("income", "999999999999.99", "999999999999.99"),
        ("income", "1000000000000", None),  # 13 digits before the point: too large
        ("income", "1.005", None),  # more than two decimal places
        ("income", "1e30", None),  # more digits than a Decimal holds
        ("income", 1e26, None),
        ("registered_on", "2024-02-29", "2024-02-29"),
        ("registered_on", "2023-02-29", None),
        ("registered_on", "2024-W01-1", None),  # Python's fromisoformat takes it; PostgreSQL not
        ("postcode", "SW1A 1AA", "SW1A 1AA"),
        ("postcode", "sw1a1aa", "SW1A 1AA"),
        # Too long as given, not once its spaces are tidied (refused by imports before).
        ("postcode", "SW1A    1AA", "SW1A 1AA"),
        ("postcode", "SW1A 1AA EXTRA", None),
    ],
)
def test_the_edges(name, raw, expected):
    assert stored_text(name, raw) == expected == parsed_text(name, raw)
