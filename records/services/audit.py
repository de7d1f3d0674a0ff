"""Write the audit trail: every change the app makes, with user, reason and channel.

Services run their writes inside `audited()` and write history rows here, one at a
time (`history_write`), or set-based in SQL built with the helpers at the end of this
module. The database triggers (migration 0002) record any change that
does not go through here as a direct database change.

A diff is {"field": [old, new]} in canonical text (records/fields.py), with `extra` keys
as "extra.<key>" and a soft delete or restore as "deleted_at"; the trigger writes the
same shape. `changed_fields` (GIN-indexed, for "every change to the postcode") lists the
fields of updates only: a creation sets every field and is not a change *to* one, and
indexing a dozen keys for each of a million imported rows would cost as much as the
import itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from records.fields import CORE_FIELDS, FIELDS_BY_NAME, Kind
from records.models import Changeset, Channel, Record

HistoricalRecord = Record.history.model


@dataclass(frozen=True)
class Audit:
    """Who is changing records, why, and through which channel."""

    user: Any  # accounts.User, or None for the system
    reason: str
    channel: Channel = Channel.WEB
    changeset: Changeset | None = None

    def __post_init__(self):
        if not (self.reason or "").strip():
            raise ValueError("Every change needs a reason.")


def _set_audited(value: str) -> str:
    """Set the flag for the rest of the transaction and return what it was."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(current_setting('records_desk.audited', true), ''), "
            "set_config('records_desk.audited', %s, true)",
            [value],
        )
        return cursor.fetchone()[0]


@contextmanager
def audited() -> Iterator[None]:
    """Run a block of writes that record their own history, in a transaction.

    Inside the block the database triggers stand aside; after it they record any
    other change to a record again, even later in the same transaction. (If the block
    fails, rolling back its savepoint undoes the flag with everything else.)
    """
    with transaction.atomic():
        previous = _set_audited("on")
        yield
        if not connection.needs_rollback:
            _set_audited(previous)


def snapshot(record: Record) -> dict[str, str]:
    """Return what a diff compares: every core field, extra key and deletion, as text."""
    values = {core.name: core.to_text(getattr(record, core.name)) for core in CORE_FIELDS}
    for key, value in (record.extra or {}).items():
        values[f"extra.{key}"] = extra_text(value)
    values["deleted_at"] = record.deleted_at.isoformat() if record.deleted_at else ""
    return values


def extra_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def diff(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, list[str]]:
    """Return {field: [old, new]} for every field whose text differs."""
    changes = {}
    for key in before.keys() | after.keys():
        old, new = before.get(key, ""), after.get(key, "")
        if old != new:
            changes[key] = [old, new]
    return dict(sorted(changes.items()))


def changed_fields(changes: Mapping[str, Any], history_type: str) -> list[str]:
    return sorted(changes) if history_type == "~" else []


def history_row(
    record: Record,
    *,
    audit: Audit,
    changes: dict[str, list[str]],
    history_type: str = "~",
    at: dt.datetime | None = None,
) -> HistoricalRecord:
    """The (unsaved) history row of a record the caller has just saved."""
    return HistoricalRecord(
        history_date=at or timezone.now(),
        history_type=history_type,
        history_user=audit.user,
        history_change_reason=audit.reason,
        channel=audit.channel,
        changeset=audit.changeset,
        changes=changes,
        changed_fields=changed_fields(changes, history_type),
        **{
            field.attname: getattr(record, field.attname)
            for field in HistoricalRecord.tracked_fields
        },
    )


def history_write(
    record: Record, *, audit: Audit, changes: dict[str, list[str]], history_type: str = "~"
) -> HistoricalRecord:
    """Write one history row for a record the caller has just saved."""
    row = history_row(record, audit=audit, changes=changes, history_type=history_type)
    row.save(force_insert=True)
    return row


def history_write_many(
    rows: Iterable[tuple[Record, dict[str, list[str]], str]], *, audit: Audit
) -> int:
    """Write history rows for many saved records at once: (record, changes, history_type)."""
    now = timezone.now()
    objs = [
        history_row(record, audit=audit, changes=changes, history_type=history_type, at=now)
        for record, changes, history_type in rows
    ]
    HistoricalRecord.objects.bulk_create(objs, batch_size=2000)
    return len(objs)


def history_columns() -> list[str]:
    """The record columns a history row copies, in one order, for set-based SQL."""
    return [field.column for field in HistoricalRecord.tracked_fields]


# -- the same diffs, set-based, for statements that change many rows at once --------
#
# Column names come from CORE_FIELDS (declared in code, never from input), so they are
# safe to interpolate.


def sql_text(core_name: str, alias: str, prefix: str = "") -> str:
    """SQL for a core column's canonical text ('' when empty); `prefix` names renamed columns."""
    core = FIELDS_BY_NAME[core_name]
    column = f"{alias}.{prefix}{core.name}"
    if core.kind is Kind.DATE:
        # to_char, not ::text, which follows the server's DateStyle.
        return f"coalesce(to_char({column}, 'YYYY-MM-DD'), '')"
    return f"coalesce({column}::text, '')"


def sql_diff(old: str | None, new: str, *, old_prefix: str = "") -> str:
    """SQL for the diff between two rows of records_record shape (old None: a new record).

    `old_prefix` reads the old row's columns under other names (old_name, old_extra, …)
    when both rows sit side by side in one table.
    """
    parts = []
    for core in CORE_FIELDS:
        before = "''" if old is None else sql_text(core.name, old, old_prefix)
        after = sql_text(core.name, new)
        parts.append(
            f"CASE WHEN {before} <> {after} "
            f"THEN jsonb_build_object('{core.name}', jsonb_build_array({before}, {after})) "
            f"ELSE '{{}}'::jsonb END"
        )
    old_extra = "'{}'::jsonb" if old is None else f"{old}.{old_prefix}extra"
    parts.append(
        "(SELECT coalesce(jsonb_object_agg('extra.' || k, jsonb_build_array(o, n)), '{}'::jsonb)"
        f" FROM (SELECT k, coalesce({old_extra} ->> k, '') AS o,"
        f" coalesce({new}.extra ->> k, '') AS n"
        f" FROM jsonb_object_keys({old_extra} || {new}.extra) AS k) AS e WHERE o <> n)"
    )
    return " || ".join(parts)


def sql_changed_fields(changes: str) -> str:
    """SQL for the changed_fields of an update (creations and deletions have none)."""
    return f"ARRAY(SELECT jsonb_object_keys({changes}) ORDER BY 1)"
