"""The register's spreadsheet columns, declared with django-import-export.

One RecordResource per organisation: every core field, then every `extra` key of its
Register, each under a header that the importer reads back as that same column. The
export (records/services/exports/) reads this declaration and writes the cells in SQL;
django-import-export's own row-by-row engine (`RecordResource(…).export(queryset)`) gives
the same columns and the same cell text, a thousand times slower: fine for the admin and
a handful of rows, not for a million.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from import_export import fields, resources, widgets

from accounts.models import Organisation
from records import selectors
from records.fields import CORE_FIELDS, CoreField, Kind
from records.models import Record
from records.services.imports.mapping import suggest_columns
from records.services.imports.rows import EXTRA_PREFIX
from records.spreadsheets import escape_formula

# Kinds whose cells are numbers or dates, never text a spreadsheet could run.
NOT_TEXT = (Kind.DECIMAL, Kind.DATE)


class CoreFieldWidget(widgets.Widget):
    """A core field's canonical text, with an apostrophe in front of what would run as a formula."""

    def __init__(self, core: CoreField):
        super().__init__()
        self.core = core

    def render(self, value: Any, obj=None, **kwargs) -> str:
        text = self.core.to_text(value)
        return text if self.core.kind in NOT_TEXT else escape_formula(text)


class ExtraWidget(widgets.Widget):
    """An `extra` value as PostgreSQL's ->> prints it, escaped like any text."""

    def render(self, value: Any, obj=None, **kwargs) -> str:
        if value is None:
            return ""
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return escape_formula(text)


class RecordField(fields.Field):
    """A column of the register: a core field, or (with `extra_key`) one key of `extra`."""

    def __init__(self, *, column_name: str, core: CoreField | None = None, extra_key=None):
        self.core = core
        self.extra_key = extra_key
        if core is not None:
            super().__init__(attribute=core.name, column_name=column_name, readonly=True)
            self.widget = CoreFieldWidget(core)
        else:
            super().__init__(column_name=column_name, readonly=True, widget=ExtraWidget())

    def get_value(self, instance: Record) -> Any:
        if self.extra_key is not None:
            return instance.extra.get(self.extra_key)
        return getattr(instance, self.core.name)


class RecordResource(resources.ModelResource):
    """The columns of an organisation's register, as spreadsheets (export and import) name them."""

    class Meta:
        model = Record
        fields: tuple[str, ...] = ()  # declared per organisation, in __init__

    def __init__(self, *, organisation: Organisation, **kwargs):
        super().__init__(**kwargs)
        register = selectors.register_for(organisation)
        headers = column_headers(
            [core.name for core in CORE_FIELDS],
            list(register.extra_columns),
            remembered=register.column_map,
        )
        core_headers, extra_headers = headers[: len(CORE_FIELDS)], headers[len(CORE_FIELDS) :]
        for core, header in zip(CORE_FIELDS, core_headers, strict=True):
            self.fields[core.name] = RecordField(column_name=header, core=core)
        for key, header in zip(register.extra_columns, extra_headers, strict=True):
            self.fields[EXTRA_PREFIX + key] = RecordField(column_name=header, extra_key=key)


def column_headers(
    field_names: Sequence[str], extra_keys: Sequence[str], *, remembered: Mapping[str, str]
) -> list[str]:
    """Return a header for each field, then for each extra key, that the importer reads back.

    A field is written under its name (`registered_on`), else its label or an alias
    when the organisation's remembered column map reads the name as something else. An
    extra key is written as itself, or as "extra:<key>" when the importer would read the
    key as a field (an extra column called "Name"), when it would run as a formula, or
    when it clashes with a header already chosen. Each candidate is checked against the
    importer's own column matching (records/services/imports/mapping.py).
    """
    by_name = {core.name: core for core in CORE_FIELDS}
    chosen: list[str] = []
    seen: set[str] = set()
    wanted = [(name, (name, by_name[name].label, *by_name[name].aliases)) for name in field_names]
    wanted += [(EXTRA_PREFIX + key, (key, EXTRA_PREFIX + key)) for key in extra_keys]
    for target, candidates in wanted:
        header = next(
            (c for c in candidates if _reads_back(c, target, remembered, seen)), candidates[-1]
        )
        chosen.append(header)
        seen.add(_duplicate_key(header))
    return chosen


def _reads_back(header: str, target: str, remembered: Mapping[str, str], seen: set[str]) -> bool:
    """Tell whether the importer would read `header` as `target`, safely and unambiguously."""
    if not header or header != header.strip() or escape_formula(header) != header:
        return False
    if _duplicate_key(header) in seen:
        return False
    return suggest_columns([header], remembered).targets[0] == target


def _duplicate_key(header: str) -> str:
    # How the reader compares headers when it refuses a column named twice
    # (records/spreadsheets/reading.py).
    return "".join(header.split()).casefold()
