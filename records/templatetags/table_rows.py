"""`{% table_body table %}`, `{% table_row row %}`: a django-tables2 table's rows, written
in Python.

The same markup as django-tables2's own row template (`<tr>` with the row's attributes,
a `<td>` with each column's attributes), without the template engine's per-cell cost:
rendering the 25 rows of the records browser that way took three quarters of the
page's server time. Columns whose cell attributes are computed per record (callables)
are computed per record; the others once per table.

Each cell's value is what django-tables2's BoundRow.get_cell gives, worked out the same
way (the record's attribute, or for a field with choices what get_FOO_display() gives;
the column's default for an empty value; the column's or the table's render method
called with the arguments it names), but with everything that depends only on the
column decided once per table rather than once per cell. Columns it does not cover (an
accessor through a relation, a linkify'd or link column, a value that is callable)
go through django-tables2 itself.
"""

from __future__ import annotations

from collections.abc import Callable

from django import template
from django.core.exceptions import FieldDoesNotExist
from django.template.base import render_value_in_context
from django.utils.encoding import force_str
from django.utils.formats import localize
from django.utils.hashable import make_hashable
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django_tables2 import Column
from django_tables2.columns.linkcolumn import BaseLinkColumn
from django_tables2.columns.manytomanycolumn import ManyToManyColumn
from django_tables2.utils import signature

from records.escaping import attributes_html, escaped

register = template.Library()

# The arguments django-tables2 offers a render method (BoundRow._optional_cell_arguments).
_CELL_ARGUMENTS = frozenset(("value", "record", "column", "bound_column", "bound_row", "table"))
# A cell django-tables2 must render itself.
_SLOW = object()


@register.simple_tag(takes_context=True)
def table_row(context, row) -> str:
    return render_row(context, row)


@register.simple_tag(takes_context=True)
def table_body(context, table) -> str:
    """Every row of the table's page, in one tag. A template included for each row
    (as django-tables2's table.html does) cost 1.3–1.9 ms of the changes page's 26 ms
    of CPU, and 0.9–1.1 of the records browser's 19: about what writing the rows costs."""
    return mark_safe("".join([render_row(context, row) for row in table.paginated_rows]))  # noqa: S308


def render_row(context, row) -> str:
    """`<tr>` and its cells, as django-tables2's table.html writes them (a function of
    its own, so that a test can put django-tables2's row in its place)."""
    table = row.table
    record = row.record
    cells = []
    for bound_column, attributes, cell in _cell_renderers(table):
        value = cell(record, row) if cell is not None else _SLOW
        if value is _SLOW:
            value = row.get_cell(bound_column.name)
        # What BoundRow.items sets for callable cell attributes, which read them.
        bound_column.current_value = value
        bound_column.current_record = record
        if attributes is None:
            attributes = attributes_html(bound_column.attrs["td"])
        cells.append(f"<td {attributes}>{_text(context, bound_column, value)}</td>")
    # Attributes come escaped from attributes_html(), each cell's text from _text().
    return mark_safe(f"<tr {attributes_html(row.attrs)}>{''.join(cells)}</tr>")  # noqa: S308


def _text(context, column, value) -> str:
    """The cell as `{{ cell }}` writes it (render_value_in_context), escaped.

    Nearly every cell is markup a render method escaped, or plain text: for those the
    template's localisation changes nothing, and records.escaping escapes them.
    """
    if column.localize is None and context.autoescape and isinstance(value, str):
        return escaped(value)
    if column.localize is not None:
        value = localize(value, use_l10n=column.localize)
    return conditional_escape(render_value_in_context(value, context))


def _cell_renderers(table) -> list[tuple]:
    """(bound column, fixed <td> attributes or None, cell function or None) per visible column."""
    try:
        return table._cell_renderers
    except AttributeError:
        pass
    renderers = []
    for bound_column in table.columns:
        declared = {**table.attrs, **bound_column.column.attrs}
        cell_attrs = declared.get("td", declared.get("cell", {}))
        fixed = (
            None
            if any(callable(value) for value in cell_attrs.values())
            else attributes_html(bound_column.attrs["td"])
        )
        renderers.append((bound_column, fixed, _cell_function(table, bound_column)))
    table._cell_renderers = renderers
    return renderers


def _cell_function(table, bound_column) -> Callable | None:
    """A function of (record, row) giving the cell's content; None leaves it to django-tables2."""
    column = bound_column.column
    model = getattr(getattr(table, "data", None), "model", None)
    if (
        model is None
        or bound_column.link
        or isinstance(column, BaseLinkColumn | ManyToManyColumn)
        or len(bound_column.accessor.bits) != 1
        or callable(getattr(column, "_default", None))  # a default computed per cell
    ):
        return None
    name = bound_column.accessor.bits[0]
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        field = None
    # A field with choices shows its label, as get_FOO_display() gives it (which builds
    # the field's choices into a dict on every call: 15 µs a cell).
    labels = dict(make_hashable(field.flatchoices)) if getattr(field, "choices", ()) else None
    render = bound_column.render
    plain = getattr(render, "__func__", None) is Column.render
    wanted, catch_all = signature(render)
    if not catch_all and not set(wanted) <= _CELL_ARGUMENTS:
        return None  # django-tables2 would not call it at all: let it say so
    empty_values = column.empty_values
    default = bound_column.default

    def cell(record, row):
        if not isinstance(record, model):
            return _SLOW
        if labels is not None:
            value = getattr(record, field.attname)
            value = force_str(labels.get(make_hashable(value), value), strings_only=True)
        else:
            try:
                value = getattr(record, name)
            except Exception:  # as django-tables2: a value it cannot get is an empty one
                value = None
            if callable(value):
                return _SLOW
        if value in empty_values:
            return default
        if plain:
            return value
        arguments = {
            "value": value,
            "record": record,
            "column": column,
            "bound_column": bound_column,
            "bound_row": row,
            "table": table,
        }
        if not catch_all:
            arguments = {key: arguments[key] for key in wanted}
        return render(**arguments)

    return cell
