"""The view being exported: the browser's filters, search and sort, and what to call the file."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone

from accounts.models import Organisation
from records import selectors
from records.filters import RecordFilterSet
from records.models import Record
from records.resources import RecordResource
from records.services.exports.columns import Column, record_columns
from records.tables import SORTABLE, RecordTable

# Parameters of the browser that say how a view is shown, not which records it holds.
PRESENTATION_PARAMETERS = ("page", "per_page", "sort")
SORT_PARAMETER = "sort"
_DESCRIPTION_LENGTH = 60
_UNSAFE = re.compile(r"[^\w.]+")
_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class RecordsView:
    """The records one view of the browser shows, in its order, and its export columns."""

    organisation: Organisation
    queryset: QuerySet[Record]
    columns: Sequence[Column]
    params: QueryDict

    @property
    def description(self) -> str:
        """The view in a file name: "all", or its filters ("status-registered_q-oxford")."""
        parts = []
        for key, values in self.params.lists():
            if key in PRESENTATION_PARAMETERS:
                continue
            for value in values:
                if value.strip():
                    parts.append(_slug(f"{key}-{value}"))
        text = "_".join(part for part in parts if part) or "all"
        return text[:_DESCRIPTION_LENGTH].rstrip("-_")

    def filename(self, extension: str, *, at: dt.datetime | None = None) -> str:
        """`<org>-records-<view>-<YYYYMMDD-HHMM>.<extension>`, in local time."""
        stamp = timezone.localtime(at or timezone.now()).strftime("%Y%m%d-%H%M")
        return f"{self.organisation.slug}-records-{self.description}-{stamp}.{extension}"


def records_view(
    *, organisation: Organisation, params: QueryDict, strict: bool = False
) -> RecordsView:
    """Return the records a browser URL's query shows, filtered and sorted as its table sorts.

    The same RecordFilterSet and the same RecordTable ordering as records:list, so the
    export is exactly what the page shows, id tie-breaker included. Like the page, a
    filter with a bad value is ignored; `strict` raises ValidationError for it instead,
    and for a parameter that is no filter at all (the command line wants to know).
    """
    filterset = RecordFilterSet(
        params or None, queryset=selectors.records_for(organisation), organisation=organisation
    )
    if strict:
        _check(filterset, params)
    table = RecordTable(filterset.qs, org_slug=organisation.slug)
    if sort := params.getlist(SORT_PARAMETER):
        table.order_by = sort  # as django-tables2's RequestConfig does it
    resource = RecordResource(organisation=organisation)
    return RecordsView(
        organisation=organisation,
        queryset=table.data.data,
        columns=record_columns(resource),
        params=params,
    )


def _check(filterset: RecordFilterSet, params: QueryDict) -> None:
    known = {SORT_PARAMETER}
    for name, field in filterset.form.fields.items():
        # A range is one form field and two parameters (income_min, income_max).
        suffixes = getattr(field.widget, "suffixes", None)
        if suffixes:
            known.update(field.widget.suffixed(name, suffix) for suffix in suffixes)
        else:
            known.add(name)
    unknown = sorted(set(params) - known - set(PRESENTATION_PARAMETERS))
    errors = []
    if unknown:
        errors.append(
            f"Unknown filter {', '.join(unknown)}: use one of {', '.join(sorted(known))}."
        )
    for key, messages in filterset.form.errors.items():
        errors.extend(f"{key}: {message}" for message in messages)
    for sort in params.getlist(SORT_PARAMETER):
        for alias in sort.split(","):
            if alias.lstrip("-") not in SORTABLE:
                errors.append(
                    f"Cannot sort by “{alias}”: sort by {', '.join(SORTABLE)} "
                    "(a leading - for largest first)."
                )
    if errors:
        raise ValidationError(errors)


def _slug(text: str) -> str:
    return _UNSAFE.sub("-", text.lower()).strip("-")


def ascii_filename(filename: str) -> str:
    """The file name in the characters every browser takes in `filename="…"`."""
    plain = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    stem, dot, extension = plain.rpartition(".")
    stem = _UNSAFE_ASCII.sub("-", stem).strip("-") or "export"
    return f"{stem}{dot}{extension}"


def content_disposition(filename: str) -> str:
    """An attachment header with a safe ASCII name, and the real one (RFC 6266 / 5987)."""
    fallback = ascii_filename(filename)
    header = f'attachment; filename="{fallback}"'
    if fallback != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header
