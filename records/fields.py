"""The core fields of a register, declared once.

Everything else follows from CORE_FIELDS: the model's columns, the table, the filters, the
edit form, the spreadsheet columns (import and export), the history diffs and the SQL of
the import. Adding a core field means adding a line here and running makemigrations.

A value has one canonical text form (`to_text`), which is also what PostgreSQL prints for
it (`column::text`): the import compares source values, amendments keep the value they
replaced, and history rows show diffs, all in that form.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from django.db import models


class Status(models.TextChoices):
    REGISTERED = "registered", "Registered"
    REMOVED = "removed", "Removed"
    SUSPENDED = "suspended", "Suspended"
    MERGED = "merged", "Merged"
    DISSOLVED = "dissolved", "Dissolved"


class Kind(enum.Enum):
    TEXT = "text"
    CHOICE = "choice"
    DECIMAL = "decimal"
    DATE = "date"
    POSTCODE = "postcode"
    URL = "url"


class InvalidValue(ValueError):
    """A spreadsheet or form value that does not fit its field; the message says why."""


_OUTWARD, _INWARD = "[A-Z]{1,2}[0-9][A-Z0-9]?", "[0-9][A-Z]{2}"
_UK_POSTCODE = re.compile(rf"^({_OUTWARD})\s*({_INWARD})$")
# A postcode as the register writes it, which CoreField._postcode returns unchanged.
CANONICAL_POSTCODE = re.compile(rf"{_OUTWARD} {_INWARD}")
_SPACES = re.compile(r"\s+")
_NUMBER_NOISE = re.compile(r"[£$€\s]")
# Thousands separated by commas in groups of three ("1,234,567.89"). Anything else with a
# comma ("12345,67", a decimal comma) is refused rather than read as something else.
_THOUSANDS = re.compile(r"^[+-]?\(?\d{1,3}(,\d{3})+(\.\d*)?\)?$")
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d %b %Y", "%d %B %Y")


@dataclass(frozen=True)
class CoreField:
    name: str
    label: str
    kind: Kind
    max_length: int = 255
    required: bool = False
    choices: type[models.TextChoices] | None = None
    # Other names that spreadsheet headers use for this field (compared normalised).
    aliases: tuple[str, ...] = ()
    # Counted beside the table and filterable by value.
    facet: bool = False
    # Filterable by a from/to range.
    ranged: bool = False
    help_text: str = ""
    max_digits: int = 14
    decimal_places: int = 2
    extra_model_kwargs: dict[str, Any] = field(default_factory=dict)

    # -- the column -----------------------------------------------------------------

    def model_field(self) -> models.Field:
        common = {"verbose_name": self.label, "help_text": self.help_text}
        if self.kind is Kind.DECIMAL:
            return models.DecimalField(
                max_digits=self.max_digits,
                decimal_places=self.decimal_places,
                null=True,
                blank=True,
                **common,
            )
        if self.kind is Kind.DATE:
            return models.DateField(null=True, blank=True, **common)
        if self.kind is Kind.CHOICE:
            assert self.choices is not None
            return models.CharField(
                max_length=self.max_length,
                choices=self.choices.choices,
                default=self.choices.values[0],
                **common,
            )
        return models.CharField(max_length=self.max_length, blank=not self.required, **common)

    @property
    def nullable(self) -> bool:
        return self.kind in (Kind.DECIMAL, Kind.DATE)

    @property
    def empty(self) -> Any:
        """The value stored for an empty cell."""
        if self.nullable:
            return None
        if self.kind is Kind.CHOICE:
            assert self.choices is not None
            return self.choices.values[0]
        return ""

    # -- text in, text out ----------------------------------------------------------

    def parse(self, raw: Any) -> Any:
        """Return the stored value for a cell or form value; raise InvalidValue if it has none."""
        if raw is None:
            raw = ""
        if isinstance(raw, str):
            text = raw.strip()
        elif isinstance(raw, bool):
            text = str(raw)
        elif isinstance(raw, dt.datetime) and self.kind is Kind.DATE:
            return raw.date()
        elif isinstance(raw, dt.date) and self.kind is Kind.DATE:
            return raw
        elif isinstance(raw, (int, float, Decimal)) and self.kind is Kind.DECIMAL:
            return self._decimal(str(raw) if not isinstance(raw, float) else repr(raw))
        elif isinstance(raw, float) and raw.is_integer():
            text = str(int(raw))  # a spreadsheet's number in a text column: 1234.0 → "1234"
        else:
            text = str(raw).strip()

        if not text:
            if self.required:
                raise InvalidValue("is required")
            return self.empty
        parser = getattr(self, f"_{self.kind.value}")
        return parser(text)

    def to_text(self, value: Any) -> str:
        """Return the canonical text of a stored value (what PostgreSQL prints for it)."""
        if value is None:
            return ""
        if self.kind is Kind.DECIMAL:
            return f"{Decimal(value):.{self.decimal_places}f}"
        if self.kind is Kind.DATE:
            return value.isoformat()
        return str(value)

    def _text(self, text: str) -> str:
        if len(text) > self.max_length:
            raise InvalidValue(f"is too long ({len(text)} characters, at most {self.max_length})")
        return text

    def _url(self, text: str) -> str:
        if _SPACES.search(text):
            raise InvalidValue("is not a web address (it contains spaces)")
        return self._text(text)

    def _choice(self, text: str) -> str:
        assert self.choices is not None
        wanted = _SPACES.sub(" ", text).casefold()
        for value, label in self.choices.choices:
            if wanted in (value.casefold(), str(label).casefold()):
                return value
        allowed = ", ".join(self.choices.values)
        raise InvalidValue(f"“{text}” is not one of: {allowed}")

    def _postcode(self, text: str) -> str:
        # Stripped here too: an escaped cell ("'\tsw1a1aa", how an export writes a tab
        # in front) reaches this unstripped, and a postcode has no use for the space.
        text = _SPACES.sub(" ", text.upper()).strip()
        if match := _UK_POSTCODE.match(text):
            text = f"{match[1]} {match[2]}"
        return self._text(text)

    def _decimal(self, text: str) -> Decimal:
        cleaned = _NUMBER_NOISE.sub("", text)
        if "," in cleaned:
            if not _THOUSANDS.match(cleaned):
                raise InvalidValue(f"“{text}” is not a number (write decimals with a point)")
            cleaned = cleaned.replace(",", "")
        if cleaned.startswith("(") and cleaned.endswith(")"):  # accountants' negatives
            cleaned = "-" + cleaned[1:-1]
        try:
            number = Decimal(cleaned)
        except InvalidOperation:
            raise InvalidValue(f"“{text}” is not a number") from None
        if not number.is_finite():
            raise InvalidValue(f"“{text}” is not a number")
        exponent = Decimal(1).scaleb(-self.decimal_places)
        try:
            quantized = number.quantize(exponent, rounding=ROUND_DOWN)
        except InvalidOperation:  # "1e30": more digits than a Decimal holds
            raise InvalidValue(f"“{text}” is too large") from None
        if number != quantized:
            raise InvalidValue(f"“{text}” has more than {self.decimal_places} decimal places")
        if len(quantized.as_tuple().digits) > self.max_digits:
            raise InvalidValue(f"“{text}” is too large")
        return quantized

    def _date(self, text: str) -> dt.date:
        text = _SPACES.sub(" ", text)
        # Spreadsheets write dates as "2020-01-31 00:00:00" when they mean a day.
        if len(text) > 10 and text[10:] in (" 00:00:00", "T00:00:00"):
            text = text[:10]
        for fmt in _DATE_FORMATS:
            try:
                return dt.datetime.strptime(text, fmt).date()
            except ValueError:
                continue
        raise InvalidValue(f"“{text}” is not a date (use YYYY-MM-DD or DD/MM/YYYY)")


CORE_FIELDS: tuple[CoreField, ...] = (
    CoreField(
        "reference",
        "Reference",
        Kind.TEXT,
        max_length=64,
        required=True,
        aliases=(
            "ref",
            "id",
            "registered number",
            "registration number",
            "charity number",
            "reg no",
            "number",
        ),
        help_text="The source's key: unique within the organisation.",
    ),
    CoreField(
        "name",
        "Name",
        Kind.TEXT,
        required=True,
        aliases=("charity name", "organisation name", "organization name", "title"),
    ),
    CoreField(
        "status",
        "Status",
        Kind.CHOICE,
        max_length=16,
        choices=Status,
        facet=True,
        aliases=("registration status", "charity status", "state"),
    ),
    CoreField(
        "category",
        "Category",
        Kind.TEXT,
        max_length=100,
        facet=True,
        aliases=("classification", "type", "charity type", "what"),
    ),
    CoreField(
        "region",
        "Region",
        Kind.TEXT,
        max_length=100,
        facet=True,
        aliases=("area", "area of operation", "location", "county"),
    ),
    CoreField(
        "postcode",
        "Postcode",
        Kind.POSTCODE,
        max_length=10,
        aliases=("post code", "postal code", "zip", "zip code"),
    ),
    CoreField(
        "income",
        "Income",
        Kind.DECIMAL,
        ranged=True,
        aliases=("latest income", "total income", "annual income", "income (£)"),
    ),
    CoreField(
        "registered_on",
        "Registered on",
        Kind.DATE,
        ranged=True,
        aliases=("date registered", "registration date", "registered", "date of registration"),
    ),
    CoreField(
        "website",
        "Website",
        Kind.URL,
        max_length=200,
        aliases=("web", "url", "web address", "web site"),
    ),
)

FIELDS_BY_NAME: dict[str, CoreField] = {f.name: f for f in CORE_FIELDS}
FIELD_NAMES: tuple[str, ...] = tuple(FIELDS_BY_NAME)
# Fields a person may amend (the reference is the source's key: it identifies the record).
AMENDABLE_FIELDS: tuple[str, ...] = tuple(n for n in FIELD_NAMES if n != "reference")
FACET_FIELDS: tuple[CoreField, ...] = tuple(f for f in CORE_FIELDS if f.facet)


def field_label(name: str) -> str:
    """A core field's label ("Income" for "income"); any other name as it is."""
    core = FIELDS_BY_NAME.get(name)
    return core.label if core is not None else name


def normalise_header(text: str) -> str:
    """Return a header in the form headers are compared: case-, space- and punctuation-blind."""
    text = text.replace("\ufeff", "").casefold().strip()
    return _SPACES.sub(" ", re.sub(r"[_\-./]+", " ", text)).strip()


def header_lookup() -> dict[str, str]:
    """Map every normalised name, label and alias to its field name."""
    lookup: dict[str, str] = {}
    for core in CORE_FIELDS:
        for name in (core.name, core.label, *core.aliases):
            lookup.setdefault(normalise_header(name), core.name)
    return lookup
