"""records.escaping writes the markup Django's and django-tables2's own functions write."""

from __future__ import annotations

import decimal

from django.utils import html as django_html
from django.utils.functional import lazy
from django.utils.safestring import mark_safe
from django_tables2.utils import AttributeDict
from hypothesis import given
from hypothesis import strategies as st

from records.escaping import attributes_html, format_html, format_html_join

TEXT = st.text(alphabet=st.sampled_from(["a", "é", "<", ">", "&", '"', "'", " ", "{", "}"]))
VALUES = st.one_of(
    TEXT,
    TEXT.map(mark_safe),  # markup kept as it is
    TEXT.map(lazy(str, str)),  # a lazy (translatable) string
    st.integers(),
    st.none(),
    st.decimals(allow_nan=False, places=2),
)


@given(args=st.lists(VALUES, max_size=4), named=VALUES)
def test_format_html_is_djangos(args, named):
    template = "<b>{named}</b>" + "<i title='{}'>{}</i>" * len(args)
    values = [value for value in args for _ in range(2)]
    ours = format_html(template, *values, named=named)
    assert ours == django_html.format_html(template, *values, named=named)
    assert hasattr(ours, "__html__")


@given(
    rows=st.lists(st.tuples(VALUES, VALUES), max_size=4), separator=st.sampled_from(["", " <&> "])
)
def test_format_html_join_is_djangos(rows, separator):
    ours = format_html_join(separator, '<li class="{}">{}</li>', rows)
    assert ours == django_html.format_html_join(separator, '<li class="{}">{}</li>', rows)


@given(
    attrs=st.dictionaries(
        st.sampled_from(["id", "class", "title", "data-x", "td", "th", "_ordering"]),
        VALUES | VALUES.map(lambda value: lambda: value),  # callables are called
    )
)
def test_attributes_html_is_django_tables2s(attrs):
    assert attributes_html(AttributeDict(attrs)) == AttributeDict(attrs).as_html()


def test_it_escapes_what_is_not_markup():
    assert format_html("<a href='{}'>{}</a>", "?a=1&b=<2>", mark_safe("<b>x</b>")) == (
        "<a href='?a=1&amp;b=&lt;2&gt;'><b>x</b></a>"
    )
    assert format_html("{}", decimal.Decimal("1.50")) == "1.50"
