"""Reads of the audit trail: a record's timeline, an organisation's changes, readable diffs.

Every query starts from `history_for(organisation)`: no read of history leaves the
organisation's scope. Comments name the index each query is shaped for (see
HISTORY_INDEXES in records/models.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.contrib.postgres.search import SearchVector
from django.db.models import (
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.functional import cached_property

from accounts.models import Organisation
from records.fields import AMENDABLE_FIELDS, CORE_FIELDS, FIELDS_BY_NAME
from records.models import Changeset, Channel, Record
from records.selectors import CappedPaginator, search_query
from records.services.audit import diff, snapshot

HistoricalRecord = Record.history.model

EXTRA_PREFIX = "extra."
AMENDMENT_PREFIX = "amendment:"
_CORE_ORDER = {core.name: index for index, core in enumerate(CORE_FIELDS)}


def history_for(organisation: Organisation) -> QuerySet:
    """Return every history row of the organisation's records."""
    return HistoricalRecord.objects.filter(organisation_id=organisation.pk)


def record_timeline(record: Record) -> QuerySet:
    """Return one record's history, newest first (index history_record: id, date)."""
    return (
        HistoricalRecord.objects.filter(organisation_id=record.organisation_id, id=record.pk)
        .select_related("history_user", "changeset")
        .order_by("-history_date", "-history_id")
    )


def changes_since(record: Record, version: int) -> list[dict]:
    """Return what changed a record after `version`, oldest first, described (`describe`)."""
    entries = record_timeline(record).filter(version__gt=version).order_by("history_id")
    return [describe(entry) for entry in entries]


def version_entry(record: Record, version: int):
    """Return the history row that left the record at `version` (its snapshot), if kept."""
    return record_timeline(record).filter(version=version).first()


def changes_reason_search(
    queryset: QuerySet, organisation: Organisation, text: str
) -> tuple[QuerySet, list[int]]:
    """Narrow history rows to those whose reason matches every word typed (as prefixes).

    Returns the rows and the ids of the operations whose reason matched.

    Rows written one at a time carry their own reason, found through the partial GIN
    index history_reason_search (rows without a changeset). Rows of an operation (a
    bulk edit, an import of a million rows) share their Changeset's reason, so that is
    searched instead, one row per operation, and its rows found through the partial
    index history_changeset. The changeset ids are fetched first: an `IN (subquery)`
    inside an OR would be a hashed subplan over every row of the organisation.
    """
    query = search_query(text)
    if query is None:
        return queryset, []
    operations = list(
        Changeset.objects.filter(organisation=organisation)
        .annotate(document=SearchVector("reason", config="simple"))
        .filter(document=query)
        .values_list("pk", flat=True)
    )
    # The same expression as the index, so the planner matches it.
    own_reason = Q(changeset__isnull=True, reason_document=query)
    queryset = queryset.annotate(
        reason_document=SearchVector("history_change_reason", config="simple")
    )
    if operations:
        return queryset.filter(own_reason | Q(changeset_id__in=operations)), operations
    return queryset.filter(own_reason), operations


# The changes page lists rows newest first, a page at a time. Walking
# history_org_recent (or the ordered index of an exact filter: channel, person,
# operation) finds a page at once when the rows wanted are among the newest. A reason
# or field filter has no index in date order, and when what it matches is old (a word
# from last spring's edits, an import run under a million newer rows) that walk reads
# every newer row first: seconds. So for those filters the page is assembled from
# parts that each have a fast plan:
#
# - the rows of each matching operation: the newest of them, walking
#   history_changeset (changeset, date, id) in order;
# - every other row: walking history_org_own (rows without a changeset) in order when
#   a probe of the newest rows finds enough matches there, else collected through the
#   GIN index and sorted (fast precisely because they are few among the newest).
#
# The page then sorts at most `wanted` rows per part. The count is taken on the plain
# filter (CountingPaginator), which is a bitmap scan stopped at the cap.
RECENT_PROBE = 10_000
MAX_OPERATION_PARTS = 50
# history_date as an expression: sorting by it keeps the planner off the date indexes.
SORTED = ExpressionWrapper(F("history_date") + Value(dt.timedelta(0)), output_field=DateTimeField())


def changes_in_order(
    queryset: QuerySet,
    organisation: Organisation,
    *,
    wanted: int,
    reason_searched: bool = False,
    field_filtered: bool = False,
    operations: Sequence[int] = (),
    newest_first: bool = True,
) -> QuerySet:
    """Return the changes to page through, with `sort_date` (the table's key) aliased.

    `wanted`: how many rows from the top the page needs (its offset plus its size).
    `operations`: the changesets a reason search matched (ChangeFilterSet.operations).
    """
    if not (reason_searched or field_filtered):
        return queryset.alias(sort_date=F("history_date"))
    if not newest_first:
        return queryset.alias(sort_date=SORTED)
    if not reason_searched or len(operations) > MAX_OPERATION_PARTS:
        return queryset.alias(sort_date=_sort_key(queryset, organisation, wanted, own=False))
    # A reason search matches rows without a changeset by their own reason, and the
    # rows of the operations whose reason matched.
    own = queryset.filter(changeset__isnull=True)
    parts = [_newest(own, _sort_key(own, organisation, wanted, own=True), wanted)]
    parts += [
        _newest(queryset.filter(changeset_id=pk), F("history_date"), wanted) for pk in operations
    ]
    candidates = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    return queryset.filter(history_id__in=candidates).alias(sort_date=SORTED)


def _newest(queryset: QuerySet, key, wanted: int) -> QuerySet:
    return queryset.alias(key=key).order_by("-key", "-history_id").values("history_id")[:wanted]


def _sort_key(queryset: QuerySet, organisation: Organisation, wanted: int, *, own: bool):
    """Walk the date index if the newest RECENT_PROBE rows hold `wanted` matches, else sort."""
    newest = history_for(organisation)
    if own:
        newest = newest.filter(changeset__isnull=True)  # index history_org_own
    newest = newest.order_by("-history_date", "-history_id").values("history_id")[:RECENT_PROBE]
    found = queryset.filter(history_id__in=Subquery(newest)).order_by()[:wanted].count()
    return F("history_date") if found >= wanted else SORTED


class CountingPaginator(CappedPaginator):
    """Pages the rows given, counts (up to the cap) the rows of another queryset.

    The changes page pages a queryset narrowed to candidates (changes_in_order) and
    counts the plain filter: the same rows, each shaped for its own fast plan.
    """

    def __init__(self, object_list, per_page, *args, counted: QuerySet, **kwargs):
        super().__init__(object_list, per_page, *args, **kwargs)
        # Unordered: history's default ordering (date, id) would put the same walk of
        # the date index into the capped count that the page avoids.
        self.counted = counted.order_by()

    @cached_property
    def queryset(self) -> QuerySet:
        return self.counted


# -- diffs as people read them ------------------------------------------------------


@dataclass(frozen=True)
class ChangeLine:
    """One key of a history row's `changes`, labelled for people."""

    key: str
    label: str
    old: str
    new: str
    # "field" (a core field), "extra" (a source column), "deleted", "restored",
    # "amendment" (only the amended mark changed) or "other" (any key another
    # operation writes, e.g. an import's "conflict:<field>").
    kind: str

    @property
    def is_value(self) -> bool:
        return self.kind in ("field", "extra")


def _display(key: str, text: str) -> str:
    core = FIELDS_BY_NAME.get(key)
    if core is not None and core.choices is not None and text:
        return str(dict(core.choices.choices).get(text, text))
    return text


def _pair(value) -> tuple[str, str]:
    """[old, new] as two strings, whatever another writer put there."""
    items = list(value) if isinstance(value, (list, tuple)) else ["", value]
    old, new = [*items, "", ""][:2]
    return ("" if old is None else str(old)), ("" if new is None else str(new))


def change_lines(changes: Mapping[str, list]) -> list[ChangeLine]:
    """Return a history row's changes in the order of the declaration, labelled."""
    lines = []
    for key, pair in changes.items():
        old, new = _pair(pair)
        if key in FIELDS_BY_NAME:
            label, kind = FIELDS_BY_NAME[key].label, "field"
            old, new = _display(key, old), _display(key, new)
        elif key.startswith(EXTRA_PREFIX):
            label, kind = key.removeprefix(EXTRA_PREFIX), "extra"
        elif key == "deleted_at":
            kind = "deleted" if new else "restored"
            label = "Deleted" if new else "Restored"
        elif key.startswith(AMENDMENT_PREFIX):
            name = key.removeprefix(AMENDMENT_PREFIX)
            core = FIELDS_BY_NAME.get(name)
            label = f"{core.label if core else name}: amendment cleared"
            kind = "amendment"
        else:
            label, kind = key, "other"
        lines.append(ChangeLine(key=key, label=label, old=old, new=new, kind=kind))

    def order(line: ChangeLine):
        group = {"field": 0, "extra": 1}.get(line.kind, 2)
        return (group, _CORE_ORDER.get(line.key, 0), line.key)

    return sorted(lines, key=order)


def entry_changes(entry) -> dict[str, list[str]]:
    """What a history row changed: its stored diff, or for a creation stored without one,
    every value it was created with (its snapshot).

    Imports and seeds create records a million at a time and leave a creation's diff
    out: it repeats the snapshot beside it, and building it cost more than the insert.
    """
    if entry.changes or entry.history_type != "+":
        return entry.changes
    created = diff({}, snapshot(entry))
    created.pop("deleted_at", None)
    return created


def undoable_fields(entry: HistoricalRecord) -> list[str]:
    """The keys of an update's changes that an undo can set back, in the entry's order.

    Core fields a person may amend and extra columns. A creation or a deletion is not
    undone field by field (delete or restore the record instead), and keys written by
    other operations (an import's "conflict:<field>") are not values.
    """
    if entry.history_type != "~":
        return []
    return [key for key in entry.changes if key in AMENDABLE_FIELDS or key.startswith(EXTRA_PREFIX)]


TYPE_LABELS = {"+": "Created", "~": "Changed", "-": "Deleted"}


def entry_action(entry) -> str:
    """Created, Changed, Deleted or Restored."""
    if entry.history_type == "~" and list(entry.changes) == ["deleted_at"]:
        return "Restored" if not entry.changes["deleted_at"][1] else "Deleted"
    return TYPE_LABELS.get(entry.history_type, entry.history_type)


def entry_reason(entry) -> str:
    """Why: the row's own reason, or its operation's (an import may leave rows without one)."""
    if entry.history_change_reason:
        return entry.history_change_reason
    return entry.changeset.reason if entry.changeset_id else ""


def entry_author(entry) -> str:
    """Who made a change: a person, the database role of a direct change, or the system."""
    if entry.history_user_id is not None:
        return str(entry.history_user)
    if entry.channel == Channel.DB:
        return f"{entry.db_user or 'unknown'} (database)"
    return "System"


def describe(entry) -> dict:
    """A history row as the templates show it: the row, its diff lines, what and who."""
    return {
        "entry": entry,
        "lines": change_lines(entry_changes(entry)),
        "action": entry_action(entry),
        "author": entry_author(entry),
        "reason": entry_reason(entry),
    }


# -- the chart of changes per day -----------------------------------------------------

CHART_DAYS = 30
CHART_MAX_DAYS = 366


def chart_period(after: dt.date | None, before: dt.date | None) -> tuple[dt.date, dt.date]:
    """The days the chart shows: the filter's date range, or the last 30 days; at most a year."""
    # A filter may ask for any day a date can be (9999-12-31); counting up to the day
    # after it, or a year back from 0001-01-01, would overflow.
    lowest, highest = dt.date.min + dt.timedelta(days=CHART_MAX_DAYS), dt.date.max - dt.timedelta(1)
    after = after and min(max(after, lowest), highest)
    before = before and min(max(before, lowest), highest)
    today = timezone.localdate()
    end = before or (today if after is None else max(after, today))
    start = after or end - dt.timedelta(days=CHART_DAYS - 1)
    if start > end:
        start, end = end, start
    start = max(start, end - dt.timedelta(days=CHART_MAX_DAYS - 1))
    return start, end


def changes_per_day(
    queryset: QuerySet, start: dt.date, end: dt.date
) -> dict[tuple[dt.date, str], int]:
    """Count the rows of `queryset` per local day and channel between two days, in one query.

    The date bounds are on history_date itself (index history_org_channel covers the
    organisation, channel and date, so an unfiltered count is an index-only scan).
    """
    tz = timezone.get_current_timezone()
    since = dt.datetime.combine(start, dt.time.min, tzinfo=tz)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    rows = (
        queryset.filter(history_date__gte=since, history_date__lt=until)
        .order_by()
        .annotate(day=TruncDate("history_date", tzinfo=tz))
        .values("day", "channel")
        .annotate(count=Count("*"))
    )
    return {(row["day"], row["channel"]): row["count"] for row in rows}


def days(start: dt.date, end: dt.date) -> Iterable[dt.date]:
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)
