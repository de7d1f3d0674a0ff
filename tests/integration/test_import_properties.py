"""Property: every random row either imports exactly as the field declaration reads it, or is
rejected with an issue on its row, and nothing else changes."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Organisation
from records.fields import CORE_FIELDS, FIELDS_BY_NAME, InvalidValue
from records.models import Record
from records.services.imports.rows import cell_text
from tests.helpers import HEADERS, apply, csv_bytes, preview

_counter = itertools.count()

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
VALUES = {
    "reference": st.one_of(st.from_regex(r"\A[A-Z]{2}-[0-9]{1,6}\Z"), st.just(""), TEXT),
    "name": st.one_of(
        TEXT,
        st.text(min_size=250, max_size=260, alphabet="ab"),
        st.sampled_from(["=cmd|' /C calc'!A0", "'=SUM(A1)", "+44 20 7946 0000"]),
    ),
    "status": st.sampled_from(["registered", "Removed", " merged ", "bogus", ""]),
    "category": TEXT,
    "region": TEXT,
    "postcode": st.one_of(st.sampled_from(["sw1a1aa", "OX1 2AB", "BS8  1TH", ""]), TEXT),
    "income": st.one_of(
        st.decimals(min_value=-(10**6), max_value=10**6, places=2).map(str),
        st.sampled_from(["1,234.50", "£12", "(5.00)", "12345,67", "1.234", "lots", "", "1e3"]),
    ),
    "registered_on": st.one_of(
        st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2030, 12, 31)).map(
            lambda d: d.strftime("%Y-%m-%d" if d.day % 2 else "%d/%m/%Y")
        ),
        st.sampled_from(["31/02/2020", "2020-13-01", "yesterday", ""]),
    ),
    "website": st.one_of(
        st.just(""), st.from_regex(r"\Awww\.[a-z]{1,10}\.org\Z"), st.just("not a url")
    ),
    "charity_type": TEXT,
}
ROWS = st.lists(st.fixed_dictionaries(VALUES), min_size=1, max_size=8)


def expected(row: dict) -> dict | None:
    """What the register should hold for a row, by the declaration's own parser (None: invalid)."""
    values = {}
    try:
        for core in CORE_FIELDS:
            values[core.name] = core.parse(cell_text(row[core.name]))
        extra = cell_text(row["charity_type"])
    except InvalidValue:
        return None
    values["extra"] = {"charity_type": extra} if extra else {}
    return values


def stored(record: Record) -> dict:
    values = {core.name: getattr(record, core.name) for core in CORE_FIELDS}
    values["extra"] = record.extra
    return values


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rows=ROWS)
def test_random_rows_import_exactly_or_are_rejected_cleanly(bob, rows):
    organisation = Organisation.objects.create(name="Prop", slug=f"prop-{next(_counter)}")
    bob.memberships.create(organisation=organisation, role=20)
    references = [r["reference"].strip() for r in rows]
    wanted = {}
    for number, row in enumerate(rows, start=2):
        outcome = expected(row)
        if outcome is not None and references.count(outcome["reference"]) > 1:
            outcome = None  # a reference twice in a file: both rows are refused
        wanted[number] = outcome

    run = preview(organisation, bob, csv_bytes(rows, HEADERS))
    issues = set(run.issues.values_list("row", flat=True))
    assert issues == {number for number, outcome in wanted.items() if outcome is None}
    if run.counts["invalid"] == len(rows):
        return
    applied = apply(run, bob, skip_invalid=True)
    assert applied.status == "applied", applied.error
    found = {r.reference: stored(r) for r in Record.objects.filter(organisation=organisation)}
    good = [outcome for outcome in wanted.values() if outcome is not None]
    assert found == {outcome["reference"]: outcome for outcome in good}
    assert Record.history.filter(organisation_id=organisation.pk).count() == len(good)


def test_the_oracle_reads_like_the_importer():
    assert expected(
        {
            **dict.fromkeys(VALUES, ""),
            "reference": "X",
            "name": "n",
            "status": "Removed",
            "income": "£1,000",
        }
    )["income"] == FIELDS_BY_NAME["income"].parse("1000")
