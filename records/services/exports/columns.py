"""What an export writes: its columns, and the SQL that gives each cell's value.

A Column is a header, a Django expression over the exported queryset's model, and a
kind. `cells_sql` turns a queryset and its columns into one SELECT that keeps the
queryset's filters and ORDER BY and returns one value per column, already as the cell
must read: text with an apostrophe in front of anything a spreadsheet would run as a
formula (records/spreadsheets/formulas.py, done here in SQL with the same rule), numbers
as numbers, dates as dates or ISO text. Both formats read from it, so the bytes of a
row come straight from PostgreSQL.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connections
from django.db.models import Expression, F, Func, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform

from records.fields import Kind
from records.resources import RecordField, RecordResource
from records.spreadsheets import FORMULA_PREFIXES


class CellKind(enum.Enum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    # A timestamp, as "YYYY-MM-DD HH:MM:SS" in settings.TIME_ZONE (a text cell).
    DATETIME = "datetime"


@dataclass(frozen=True)
class Column:
    header: str
    value: Expression
    kind: CellKind = CellKind.TEXT
    width: float | None = None  # XLSX column width, in characters


# escape_formula in SQL: an apostrophe in front of text that starts, after any
# apostrophes it already has, with a character a spreadsheet runs as a formula. Bound
# as a parameter, so the tab and carriage return go in as themselves. "-" comes last,
# where a bracket expression reads it literally.
_FORMULA_CHARS = "".join(sorted(FORMULA_PREFIXES, key=lambda c: c == "-"))
FORMULA_PATTERN = f"^('*[{_FORMULA_CHARS}])"
# The first characters that may need it: a formula's, or an apostrophe.
_SUSPECT_CODES = ", ".join(str(ord(c)) for c in ("'", *FORMULA_PREFIXES))


class SpreadsheetText(Func):
    """A text cell: escaped like escape_formula(), and NULL when empty (a blank CSV cell)."""

    output_field = TextField()

    def as_sql(self, compiler, connection, **extra_context):
        (value,) = self.get_source_expressions()
        sql, params = compiler.compile(value)
        text = f"({sql})::text"
        # Only a value whose first character is suspect goes through the regular
        # expression: running it on every cell doubled the cost of a CSV export.
        return (
            f"CASE WHEN ascii({text}) IN ({_SUSPECT_CODES}) "
            f"THEN regexp_replace({text}, %s, %s) "
            f"WHEN {text} = '' THEN NULL ELSE {text} END",
            [*params, *params, FORMULA_PATTERN, "'\\1", *params, *params],
        )


class IsoDate(Func):
    """A date as YYYY-MM-DD whatever the server's DateStyle (the canonical text of a date)."""

    template = "to_char(%(expressions)s, 'YYYY-MM-DD')"
    output_field = TextField()


class LocalDateTime(Func):
    """A timestamp as local "YYYY-MM-DD HH:MM:SS" (what people read on the pages)."""

    output_field = TextField()

    def as_sql(self, compiler, connection, **extra_context):
        (value,) = self.get_source_expressions()
        sql, params = compiler.compile(value)
        return (
            f"to_char(({sql}) AT TIME ZONE %s, 'YYYY-MM-DD HH24:MI:SS')",
            [*params, settings.TIME_ZONE],
        )


def cells_sql(queryset: QuerySet, columns: Sequence[Column], *, dates_as_text: bool) -> str:
    """Return a SELECT of one value per column, in the queryset's order, parameters inlined.

    Inlined (with the driver's own quoting) because COPY cannot take parameters.
    """
    values = {}
    for index, column in enumerate(columns):
        if column.kind is CellKind.TEXT:
            value = SpreadsheetText(column.value)
        elif column.kind is CellKind.DATE and dates_as_text:
            value = IsoDate(column.value)
        elif column.kind is CellKind.DATETIME:
            value = LocalDateTime(column.value)
        else:
            value = column.value
        values[f"export_c{index}"] = value
    sql, params = queryset.annotate(**values).values_list(*values).query.sql_with_params()
    return connections[queryset.db].ops.compose_sql(sql, params)


def record_columns(resource: RecordResource) -> list[Column]:
    """The export's columns, as the RecordResource declares them."""
    return [_record_column(field) for field in resource.get_export_fields()]


_WIDTHS = {"reference": 18, "name": 45, "status": 12, "postcode": 10, "website": 32}


def _record_column(field: RecordField) -> Column:
    if field.extra_key is not None:
        return Column(field.column_name, KeyTextTransform(field.extra_key, "extra"), width=20)
    core = field.core
    kind = {Kind.DECIMAL: CellKind.NUMBER, Kind.DATE: CellKind.DATE}.get(core.kind, CellKind.TEXT)
    width = _WIDTHS.get(core.name, {CellKind.NUMBER: 14, CellKind.DATE: 13}.get(kind, 20))
    return Column(field.column_name, F(core.name), kind, width=width)
