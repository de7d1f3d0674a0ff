"""Escaping the cells a spreadsheet would run, and undoing it on import."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from records.spreadsheets import (
    FORMULA_PREFIXES,
    escape_formula,
    looks_like_formula,
    unescape_formula,
)

# Text that starts with the characters that matter far more often than st.text() alone would.
cell_text = st.one_of(
    st.text(),
    st.builds(
        lambda apostrophes, prefix, rest: apostrophes + prefix + rest,
        st.text(alphabet="'", max_size=3),
        st.sampled_from([*FORMULA_PREFIXES, "", "a", " ", "'"]),
        st.text(),
    ),
)


@given(cell_text)
def test_it_undoes_its_escaping_for_any_text(text):
    assert unescape_formula(escape_formula(text)) == text


@given(cell_text)
def test_it_never_writes_text_that_starts_like_a_formula(text):
    assert not escape_formula(text).startswith(FORMULA_PREFIXES)


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("=SUM(A1:A3)", "'=SUM(A1:A3)"),
        ("+44 20 7946 0000", "'+44 20 7946 0000"),
        ("-5", "'-5"),
        ("@Leeds", "'@Leeds"),
        ("\tindented", "'\tindented"),
        ("\rreturn", "'\rreturn"),
        ("Oxford Community Trust", "Oxford Community Trust"),
        ("St Mary's Church", "St Mary's Church"),
        ("", ""),
        ("'", "'"),
        ("''", "''"),
        # Text that already starts with an apostrophe before a formula gets one more, so
        # that importing the export gives back exactly what was there.
        ("'=x", "''=x"),
    ],
)
def test_it_prefixes_an_apostrophe_to_formulas_only(text, escaped):
    assert escape_formula(text) == escaped
    assert unescape_formula(escaped) == text


@pytest.mark.parametrize(
    "text",
    ["'Oxford", "'", "''", "'a=b", "St Mary's"],
)
def test_it_leaves_apostrophes_that_escape_nothing(text):
    assert unescape_formula(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "=cmd|' /C calc'!A0",
        "=1+1",
        "=",
        "@SUM(A1)",
        "@SUM(1+1)",
        "-2+3+cmd|' /C calc'!A0",
        '+HYPERLINK("http://example.com")',
        "+Sheet2!A1",
    ],
)
def test_it_recognises_formulas(text):
    assert looks_like_formula(text)


@pytest.mark.parametrize(
    "text",
    [
        "+44 20 7946 0000",
        "-5",
        "- foo",
        "@Leeds",
        "Oxford (formerly Oxford Aid)",
        "'=SUM(A1:A3)",
        "",
    ],
)
def test_it_does_not_mistake_ordinary_text_for_a_formula(text):
    assert not looks_like_formula(text)
