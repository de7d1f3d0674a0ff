"""Turn a spreadsheet row into typed values for the staging table, or into issues.

This is the hot path of a million-row import: one converter per mapped column, chosen
once, each trying the common case first (an ISO date, a plain number, a postcode as the
register writes it) and falling back to the general parser in records/fields.py only
when that fails. A number or a date already written as PostgreSQL reads it is passed on
as that text: staging COPYs text, and formatting a Decimal or a date back into text cost
more than reading it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from hashlib import blake2b
from json.encoder import py_encode_basestring as _py_encode
from typing import Any

from records.fields import (
    CANONICAL_POSTCODE,
    CORE_FIELDS,
    FIELDS_BY_NAME,
    CoreField,
    InvalidValue,
    Kind,
)
from records.spreadsheets import looks_like_formula, unescape_formula

try:  # the C encoder, as json.dumps uses it
    from _json import encode_basestring as _encode_string
except ImportError:  # pragma: no cover - other Pythons
    _encode_string = _py_encode

# A cell starting with one of these may be an escaped value ("'=…") or a formula.
_FORMULA_START = frozenset("'=+-@\t\r")
_IGNORE = ""
EXTRA_PREFIX = "extra:"

Converter = Callable[[Any], Any]


def cell_text(raw: Any) -> str:
    """Return a cell as text, undoing export escaping; raise InvalidValue for a formula.

    An escaped cell ("'=SUM…", written so by our export) is taken verbatim, unstripped,
    so that the value comes back exactly as it was exported.
    """
    if raw.__class__ is not str:
        return _non_text(raw)
    if raw and raw[0] in _FORMULA_START:
        if raw[0] == "'":
            unescaped = unescape_formula(raw)
            if unescaped != raw:
                return unescaped
        elif looks_like_formula(raw):
            raise InvalidValue(
                f"“{raw[:40]}” looks like a spreadsheet formula; "
                "remove it, or put an apostrophe in front to keep it as text"
            )
    return raw.strip()


def _non_text(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float):
        return str(int(raw)) if raw.is_integer() else repr(raw)
    if isinstance(raw, dt.datetime):
        return raw.date().isoformat() if raw.time() == dt.time() else raw.isoformat(sep=" ")
    if isinstance(raw, dt.date):
        return raw.isoformat()
    return str(raw).strip()


def _text(core: CoreField) -> Converter:
    required, limit = core.required, core.max_length
    # Postcodes are normalised and web addresses checked by the field itself.
    finish = {Kind.POSTCODE: core._postcode, Kind.URL: core._url}.get(core.kind)

    def convert(raw: Any) -> str:
        if raw.__class__ is str and (not raw or raw[0] not in _FORMULA_START):
            value = raw.strip()
        else:
            value = cell_text(raw)
        if not value:
            if required:
                raise InvalidValue("is required")
            return ""
        if finish:  # which checks the length of what it makes of the value
            return finish(value)
        if len(value) > limit:
            raise InvalidValue(f"is too long ({len(value)} characters, at most {limit})")
        return value

    return convert


def _postcode(core: CoreField) -> Converter:
    general = _text(core)
    canonical = CANONICAL_POSTCODE.fullmatch
    assert core.max_length >= 8

    def convert(raw: Any) -> str:
        if raw.__class__ is str and canonical(raw):
            return raw
        return general(raw)

    return convert


def _choice(core: CoreField) -> Converter:
    assert core.choices is not None
    lookup = {}
    for value, label in core.choices.choices:
        for spelling in (value, str(label)):
            lookup[spelling] = value
            lookup[spelling.casefold()] = value
    parse = core.parse

    def convert(raw: Any) -> str:
        if raw.__class__ is str:
            found = lookup.get(raw) or lookup.get(raw.strip().casefold())
            if found:
                return found
        return parse(cell_text(raw))

    return convert


def _decimal(core: CoreField) -> Converter:
    parse = core.parse
    # A number that fits the column as it is ("8896.74", "-12", "0.5", or a spreadsheet's
    # 8896.74 as repr writes it): PostgreSQL reads it into exactly the value the field's
    # parser would give. The rest ("£1,234", "(12.50)", errors) is the parser's.
    whole = core.max_digits - core.decimal_places
    fraction = rf"(?:\.[0-9]{{1,{core.decimal_places}}})?" if core.decimal_places else ""
    plain = re.compile(rf"-?[0-9]{{1,{whole}}}{fraction}").fullmatch

    def convert(raw: Any) -> Decimal | str | None:
        if raw.__class__ is str:
            if plain(raw):
                return raw
            text = raw.strip()
            return parse(cell_text(raw) if text and text[0] in _FORMULA_START else text)
        if raw.__class__ is float or raw.__class__ is int:  # a spreadsheet's number
            text = repr(raw)
            return text if plain(text) else parse(raw)
        return parse(cell_text(raw))

    return convert


def _date(core: CoreField) -> Converter:
    parse = core.parse
    from_iso = dt.date.fromisoformat

    def convert(raw: Any) -> dt.date | str | None:
        if raw.__class__ is str:
            text = raw.strip()
            if not text:
                return None
            # YYYY-MM-DD, as PostgreSQL reads it. (Not "2024-W01-1", an ISO week date,
            # also ten characters: fromisoformat takes it, PostgreSQL and the field do not.)
            if len(text) == 10 and text[4] == "-" and text[7] == "-":
                try:
                    from_iso(text)
                except ValueError:
                    pass
                else:
                    return text
            return parse(cell_text(raw))
        if isinstance(raw, dt.datetime):
            return raw.date()
        if isinstance(raw, dt.date):
            return raw
        if raw is None or raw == "":
            return None
        raise InvalidValue(f"“{_non_text(raw)}” is not a date (use YYYY-MM-DD or DD/MM/YYYY)")

    return convert


def converter(core: CoreField) -> Converter:
    if core.kind is Kind.CHOICE:
        return _choice(core)
    if core.kind is Kind.DECIMAL:
        return _decimal(core)
    if core.kind is Kind.DATE:
        return _date(core)
    if core.kind is Kind.POSTCODE:
        return _postcode(core)
    return _text(core)


@dataclass(frozen=True)
class ColumnMap:
    """Where each file column goes: a core field, an `extra` key, or nowhere."""

    headers: tuple[str, ...]
    targets: tuple[str, ...]  # field name, "extra:<key>", or "" to ignore

    @property
    def fields(self) -> tuple[str, ...]:
        """The core fields the file provides, in declaration order."""
        mapped = set(self.targets)
        return tuple(core.name for core in CORE_FIELDS if core.name in mapped)

    @property
    def extra_keys(self) -> tuple[str, ...]:
        return tuple(t[len(EXTRA_PREFIX) :] for t in self.targets if t.startswith(EXTRA_PREFIX))

    def as_pairs(self) -> list[list[str]]:
        """The map as stored on an ImportRun: [[header, target], …] in file order."""
        return [[h, t] for h, t in zip(self.headers, self.targets, strict=True)]

    @classmethod
    def from_pairs(cls, pairs: list[list[str]]) -> ColumnMap:
        return cls(tuple(h for h, _ in pairs), tuple(t for _, t in pairs))


class RowParser:
    """Parse rows laid out as `columns` into [reference, <present fields…>, extra JSON]."""

    def __init__(self, columns: ColumnMap):
        self.fields = columns.fields
        position = {name: i for i, name in enumerate(self.fields)}
        self._fields: list[tuple[int, int, str, Converter]] = []
        self._extra: list[tuple[int, str, str]] = []
        self._reference = (
            columns.targets.index("reference") if "reference" in columns.targets else None
        )
        # The column map is part of every fingerprint: the same cells mapped differently
        # are a different source row.
        # (Hashed once: each row's hash continues from a copy of this one.)
        self._signature = blake2b(repr(columns.as_pairs()).encode() + b"\x1e", digest_size=8)
        for index, (header, target) in enumerate(
            zip(columns.headers, columns.targets, strict=True)
        ):
            if target.startswith(EXTRA_PREFIX):
                key = target[len(EXTRA_PREFIX) :]
                self._extra.append((index, key, _encode_string(key) + ":"))
            elif target != _IGNORE:
                core = FIELDS_BY_NAME[target]
                self._fields.append((position[target], index, header, converter(core)))
        self._width = len(self.fields)

    def reference(self, cells: Sequence[Any]) -> str:
        """The row's reference as the register stores it (without checking it)."""
        raw = cells[self._reference]
        return raw.strip() if raw.__class__ is str else _non_text(raw)

    def fingerprint(self, cells: Sequence[Any]) -> int:
        """A 64-bit hash of the row's cells, as stored in Record.source_hash.

        Every cell counts, mapped or not: a row that differs anywhere is compared in full.
        """
        try:
            text = "\x1f".join(cells)  # a CSV row: all text
        except TypeError:
            text = "\x1f".join([str(cell) for cell in cells])  # an XLSX row
        digest = self._signature.copy()
        digest.update(text.encode())
        return int.from_bytes(digest.digest(), "big", signed=True)

    def parse(self, cells: Sequence[Any]) -> tuple[list[Any] | None, list[tuple[str, str]]]:
        """Return (values, []) for a good row or (None, [(column, message), …]) for a bad one."""
        values: list[Any] = [None] * (self._width + 1)
        issues = []
        for position, index, header, convert in self._fields:
            try:
                values[position] = convert(cells[index])
            except InvalidValue as error:
                issues.append((header, str(error)))
        # `extra` as JSON text, built by hand: json.dumps of a small dict per row was a
        # third of the parsing time; keys are encoded once, values by the C encoder.
        pairs = []
        for index, key, key_json in self._extra:
            raw = cells[index]
            if raw == "" or raw is None:
                continue
            if raw.__class__ is str and raw[0] not in _FORMULA_START:
                text = raw.strip()
            else:
                try:
                    text = cell_text(raw)
                except InvalidValue as error:
                    issues.append((key, str(error)))
                    continue
            if text:
                pairs.append(key_json + _encode_string(text))
        if issues:
            return None, issues
        values[self._width] = "{" + ",".join(pairs) + "}"
        return values, issues
