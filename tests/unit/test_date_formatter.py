"""records.tables.date_formatter: what dateformat.format writes, with the format split once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import dateformat, translation
from hypothesis import given
from hypothesis import strategies as st

from records.tables import date_formatter

TABLE_FORMATS = ["j M Y", "j M Y, H:i", "d/m/Y H:i:s", "n-j-Y", "Y", "at H:i"]
# Letters it writes itself, letters it leaves to dateformat, and other characters.
PIECES = st.lists(
    st.sampled_from([*"jdnmMYHis", *"DFNbywaAgGPUe", " ", ",", ":", "/", "-", "de ", "\\j"]),
    max_size=8,
).map("".join)


@pytest.mark.parametrize("language", ["en-gb", "fr", "de"])
@given(
    moment=st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
    format=st.sampled_from(TABLE_FORMATS) | PIECES,
)
def test_it_writes_what_dateformat_writes(language, moment, format):
    with translation.override(language):
        assert date_formatter(format)(moment) == dateformat.format(moment, format)


@given(day=st.dates(), format=st.sampled_from(["j M Y", "d/m/Y", "n-j-Y"]) | PIECES)
def test_it_writes_dates_as_dateformat_does(day, format):
    try:
        expected = dateformat.format(day, format)
    except TypeError:  # a time letter in the format of a date
        with pytest.raises(TypeError):
            date_formatter(format)(day)
    else:
        assert date_formatter(format)(day) == expected


def test_the_month_follows_the_active_language():
    write = date_formatter("j M Y")
    moment = dt.date(2024, 5, 3)
    with translation.override("de"):
        german = write(moment)
    assert write(moment) == "3 May 2024"
    assert german == "3 Mai 2024"
