"""Put things right: revert a record to an earlier version, or undo one change.

Both are new changes made by a person (a manager), with a reason: a new history row,
nothing erased, and the amendment rules applied to every field they set, exactly as if
the person had typed the old value back in (records/services/amend.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.utils import timezone

from records.fields import AMENDABLE_FIELDS, FIELDS_BY_NAME, InvalidValue
from records.history import EXTRA_PREFIX, undoable_fields
from records.models import Channel, Record
from records.services.amend import record_editing, record_set
from records.services.audit import Audit

HistoricalRecord = Record.history.model


def _check_entry(record: Record, entry: HistoricalRecord) -> None:
    if entry.id != record.pk or entry.organisation_id != record.organisation_id:
        raise ValidationError("That history entry belongs to another record.")


def record_revert(
    *,
    record: Record,
    entry: HistoricalRecord,
    reason: str,
    by,
    version: int | None = None,
    channel: Channel = Channel.WEB,
) -> Record:
    """Set a record's fields and extra columns back to what they were after `entry`."""
    _check_entry(record, entry)
    audit = Audit(user=by, reason=reason, channel=channel)
    with record_editing(record, version=version, audit=audit) as locked:
        values = {name: getattr(entry, name) for name in AMENDABLE_FIELDS}
        record_set(locked, values, audit=audit, at=timezone.now().isoformat())
        locked.extra = dict(entry.extra or {})
    return locked


def record_undo(
    *,
    record: Record,
    entry: HistoricalRecord,
    reason: str,
    by,
    fields: Iterable[str] | None = None,
    version: int | None = None,
    channel: Channel = Channel.WEB,
) -> Record:
    """Set the fields one change changed (or just `fields` of them) back to their old values.

    Fields changed again since keep nothing of the later change either: the undo puts
    the value from before `entry` back, as a person would.
    """
    _check_entry(record, entry)
    undoable = undoable_fields(entry)
    keys = undoable if fields is None else list(fields)
    if not keys or any(key not in undoable for key in keys):
        raise ValidationError("That change has nothing of this kind to undo.")
    values, extra = {}, {}
    for key in keys:
        old = entry.changes[key][0]
        if key.startswith(EXTRA_PREFIX):
            extra[key.removeprefix(EXTRA_PREFIX)] = old
            continue
        core = FIELDS_BY_NAME[key]
        try:
            values[key] = core.parse(old)
        except InvalidValue as error:
            raise ValidationError(f"{core.label} cannot go back to “{old}”: it {error}.") from None
    audit = Audit(user=by, reason=reason, channel=channel)
    with record_editing(record, version=version, audit=audit) as locked:
        record_set(locked, values, audit=audit, at=timezone.now().isoformat())
        if extra:
            updated = dict(locked.extra)
            for key, old in extra.items():
                # An empty old value is how a diff shows a column the record did not have.
                if old == "":
                    updated.pop(key, None)
                else:
                    updated[key] = old
            locked.extra = updated
    return locked
