"""Change one record by hand: create, amend, revert a field to its source, delete, restore.

Each service locks the record, refuses a form opened at an older version
(`StaleRecord`), applies the amendment rules (`amendment_after`), bumps the version and
writes exactly one history row through records/services/audit.py — or writes nothing at
all when nothing changed. records/services/revert.py builds on the same three steps:
`record_lock`, `record_set`, `record_write`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Organisation
from records.fields import AMENDABLE_FIELDS, FIELDS_BY_NAME, InvalidValue
from records.models import Channel, Record
from records.services.audit import Audit, audited, diff, history_write, snapshot

log = logging.getLogger(__name__)

# What an UPDATE of one record writes: the data, its amendment state and its version.
WRITTEN_COLUMNS = [*AMENDABLE_FIELDS, "extra", "amendments", "version", "updated_at", "deleted_at"]


class StaleRecord(Exception):
    """The record changed since the form was opened at `version`; nothing was saved."""

    def __init__(self, record: Record, version: int):
        self.record = record  # as it is now
        self.version = version
        super().__init__(f"{record.reference} is at version {record.version}, not {version}.")


def amendment_after(
    amendments: Mapping[str, dict], *, field: str, old: str, new: str, audit: Audit, at: str
) -> dict[str, dict]:
    """Return a record's amendments after a person sets `field` from text `old` to `new`.

    The first amendment of a field remembers the source value it replaced; later ones
    keep that source and record who changed it last and why; putting the source value
    back means the field is not amended any more.
    """
    result = dict(amendments)
    if old == new:
        return result
    current = result.get(field)
    if current is not None and new == current.get("source"):
        del result[field]
        return result
    stamp = {
        "by": audit.user.pk if audit.user else None,
        "by_name": str(audit.user) if audit.user else "",
        "at": at,
        "reason": audit.reason,
    }
    result[field] = {"source": old if current is None else current.get("source", ""), **stamp}
    return result


def record_lock(record: Record, *, version: int | None) -> Record:
    """Return the record locked for this transaction; raise StaleRecord if it moved on.

    The lock makes a concurrent save wait for this one to commit, and then see its
    version: of two editors who opened the same version, the second is refused.
    """
    # Only the record's row is locked; its organisation comes along for the links the
    # views answer with.
    locked = (
        Record.objects.select_for_update(of=("self",))
        .select_related("organisation")
        .get(pk=record.pk)
    )
    if version is not None and locked.version != version:
        raise StaleRecord(locked, version)
    return locked


def record_set(record: Record, values: Mapping[str, Any], *, audit: Audit, at: str) -> None:
    """Set core fields on a locked record as a person would, keeping amendments consistent."""
    amendments = dict(record.amendments)
    for name, value in values.items():
        if name not in AMENDABLE_FIELDS:
            raise ValidationError({name: f"{name} cannot be changed by hand."})
        core = FIELDS_BY_NAME[name]
        old, new = core.to_text(getattr(record, name)), core.to_text(value)
        amendments = amendment_after(amendments, field=name, old=old, new=new, audit=audit, at=at)
        setattr(record, name, value)
    record.amendments = amendments


def record_write(
    record: Record,
    *,
    before: dict[str, str],
    audit: Audit,
    history_type: str = "~",
    changes: dict[str, list[str]] | None = None,
) -> bool:
    """Save a locked record and write its history row; return False if nothing changed.

    `before` is `snapshot()` of the record when it was locked. A change that changes
    nothing writes nothing: no history row, no new version. (Amendments only change
    with a value, so the diff of values says it all.)
    """
    changes = changes if changes is not None else diff(before, snapshot(record))
    if not changes:
        return False
    record.version += 1
    record.save(update_fields=WRITTEN_COLUMNS)
    history_write(record, audit=audit, changes=changes, history_type=history_type)
    return True


def refuse_deleted(record: Record) -> None:
    if record.deleted_at is not None:
        raise ValidationError("This record is deleted: restore it before changing it.")


@contextmanager
def record_editing(
    record: Record,
    *,
    version: int | None,
    audit: Audit,
    if_no_value_changed: dict[str, list[str]] | None = None,
) -> Iterator[Record]:
    """Lock a live record for a change by hand; on the way out, save it with its history.

    The caller changes the locked record inside the block (record_set for core fields);
    if that changed no value, nothing is written, unless the caller says what the
    history should record then (`if_no_value_changed`: a change of amendments only). An
    error in the block changes nothing.
    """
    with audited():
        locked = record_lock(record, version=version)
        refuse_deleted(locked)
        before = snapshot(locked)
        yield locked
        changes = diff(before, snapshot(locked)) or if_no_value_changed or {}
        record_write(locked, before=before, audit=audit, changes=changes)


def record_create(
    *,
    organisation: Organisation,
    values: Mapping[str, Any],
    reason: str,
    by,
    channel: Channel = Channel.WEB,
) -> Record:
    """Add a record typed in by a person.

    A record created by hand has no source: every field given a value is amended, with
    an empty source value.
    """
    audit = Audit(user=by, reason=reason, channel=channel)
    reference = values.get("reference") or ""
    if not reference:
        raise ValidationError({"reference": "Reference is required."})
    unknown = set(values) - {"reference", *AMENDABLE_FIELDS}
    if unknown:
        raise ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    at = timezone.now().isoformat()
    with audited():
        record = Record(organisation=organisation, reference=reference)
        amendments: dict[str, dict] = {}
        for name in AMENDABLE_FIELDS:
            core = FIELDS_BY_NAME[name]
            value = values.get(name, core.empty)
            setattr(record, name, value)
            # The source of a record typed in by hand is empty: every field given a
            # value is amended, with "source": "".
            amendments = amendment_after(
                amendments, field=name, old="", new=core.to_text(value), audit=audit, at=at
            )
        record.amendments = amendments
        try:
            with transaction.atomic():
                record.save(force_insert=True)
        except IntegrityError:
            raise ValidationError(
                {"reference": f"A record with the reference {reference} already exists."}
            ) from None
        history_write(record, audit=audit, changes=diff({}, snapshot(record)), history_type="+")
    log.info("%s created %s in %s", by, reference, organisation.slug)
    return record


def record_amend(
    *,
    record: Record,
    values: Mapping[str, Any],
    reason: str,
    by,
    version: int | None,
    channel: Channel = Channel.WEB,
) -> Record:
    """Set some core fields of a record by hand; refuse if it changed since `version`.

    `values` holds parsed values ({"name": "…", "income": Decimal(…)}); fields whose
    value is already the one given are left alone. Returns the record as saved.
    """
    audit = Audit(user=by, reason=reason, channel=channel)
    with record_editing(record, version=version, audit=audit) as locked:
        record_set(locked, values, audit=audit, at=timezone.now().isoformat())
    return locked


def record_revert_to_source(
    *,
    record: Record,
    field: str,
    reason: str,
    by,
    version: int | None = None,
    channel: Channel = Channel.WEB,
) -> Record:
    """Put a field's source value back and clear its amendment."""
    audit = Audit(user=by, reason=reason, channel=channel)
    core = FIELDS_BY_NAME.get(field)
    # If the value already is the source value (someone put it back outside the app),
    # only the amendment mark goes, and the history says so.
    cleared = {f"amendment:{field}": ["amended", ""]}
    with record_editing(
        record, version=version, audit=audit, if_no_value_changed=cleared
    ) as locked:
        amendment = locked.amendments.get(field)
        if core is None or amendment is None:
            raise ValidationError(f"{field} is not amended.")
        try:
            value = core.parse(amendment.get("source", ""))
        except InvalidValue as error:
            raise ValidationError(
                f"{core.label} has no source value to go back to: it {error}."
            ) from None
        setattr(locked, field, value)
        locked.amendments = {k: v for k, v in locked.amendments.items() if k != field}
    return locked


def record_delete(
    *,
    record: Record,
    reason: str,
    by,
    version: int | None = None,
    channel: Channel = Channel.WEB,
) -> Record:
    """Mark a record deleted (it leaves the browser; `record_restore` brings it back)."""
    audit = Audit(user=by, reason=reason, channel=channel)
    with audited():
        locked = record_lock(record, version=version)
        if locked.deleted_at is not None:
            return locked
        before = snapshot(locked)
        locked.deleted_at = timezone.now()
        record_write(locked, before=before, audit=audit, history_type="-")
    log.info("%s deleted %s in %s", by, locked.reference, locked.organisation_id)
    return locked


def record_restore(
    *,
    record: Record,
    reason: str,
    by,
    version: int | None = None,
    channel: Channel = Channel.WEB,
) -> Record:
    """Bring a deleted record back into the register.

    Written as an update ("~"), not a creation: the record existed all along, and an
    update lists its changed field ("deleted_at"), so the changes page finds restores
    with the field filter.
    """
    audit = Audit(user=by, reason=reason, channel=channel)
    with audited():
        locked = record_lock(record, version=version)
        if locked.deleted_at is None:
            return locked
        before = snapshot(locked)
        locked.deleted_at = None
        record_write(locked, before=before, audit=audit)
    log.info("%s restored %s in %s", by, locked.reference, locked.organisation_id)
    return locked
