"""Bulk edit: set one field of many records to one value, with one reason, in one statement.

One operation is one Changeset (kind bulk edit, channel bulk); every record it changes
gets one history row pointing to it, written by the same statement that changes the
record. Records that already have the value are not touched: no history, no new version.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Organisation
from records.fields import AMENDABLE_FIELDS, FIELDS_BY_NAME
from records.models import Changeset, Channel, Record
from records.services.audit import (
    Audit,
    audited,
    history_columns,
    sql_changed_fields,
    sql_diff,
    sql_text,
)

log = logging.getLogger(__name__)

# A bulk edit runs in the request. Measured on a cold 1M-record register: 33k records in
# 9 s, 171k in 37 s (mostly writing the rows and their index entries); the web server
# gives a request 120 s. Larger changes belong in a spreadsheet import.
MAX_RECORDS = 100_000


@dataclass(frozen=True)
class BulkEdit:
    """What a bulk edit did: the operation (None if nothing changed) and its counts."""

    changeset: Changeset | None
    selected: int
    changed: int

    @property
    def unchanged(self) -> int:
        return self.selected - self.changed


def records_bulk_edit(
    *,
    organisation: Organisation,
    records: QuerySet[Record],
    field: str,
    value: Any,
    reason: str,
    by,
    channel: Channel = Channel.BULK,
) -> BulkEdit:
    """Set `field` to the parsed `value` on the organisation's live `records`.

    The amendment rules are the ones of a single edit (records/services/amend.py), in
    SQL: the first amendment of a field keeps the value it replaced as its source, a
    later one keeps that source, and putting the source value back clears it.
    """
    if field not in AMENDABLE_FIELDS:
        raise ValidationError({"field": "This field cannot be changed by hand."})
    core = FIELDS_BY_NAME[field]
    text = core.to_text(value)
    audit = Audit(user=by, reason=reason, channel=channel)
    # The selection, scoped here whatever the caller passed: ids of live records of
    # this organisation.
    ids = records.filter(organisation=organisation).live().order_by().values("pk")
    # Bound here (and its literal % doubled), so the statement below can name its own
    # parameters.
    selection = connection.ops.compose_sql(*ids.query.sql_with_params()).replace("%", "%%")
    # One moment for the whole operation, taken as the single edits take theirs (not the
    # transaction's start, which a caller's transaction may have begun long before).
    now = timezone.now()
    stamp = {
        "by": by.pk if by else None,
        "by_name": str(by) if by else "",
        "at": now.isoformat(),
        "reason": reason,
    }
    tracked = history_columns()
    with audited(), connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({selection}) AS selected", {})
        selected = cursor.fetchone()[0]
        if selected > MAX_RECORDS:
            raise ValidationError(
                f"That is {selected:,} records: a bulk edit changes at most {MAX_RECORDS:,} at "
                "once. Narrow the view, or change them with a spreadsheet import."
            )
        summary = f"Set {core.label} to “{text}”" if text else f"Cleared {core.label}"
        changeset = Changeset.objects.create(
            organisation=organisation,
            kind=Changeset.Kind.BULK_EDIT,
            channel=channel,
            user=by,
            reason=reason,
            summary=summary[:200],
        )
        # `target` locks the rows that will change (FOR UPDATE re-checks the value if a
        # concurrent edit got there first); the UPDATE sees the old row as `t` and the
        # new one as `r`, so RETURNING can carry the diff into the history INSERT.
        cursor.execute(
            f"""
            WITH target AS (
                SELECT r.* FROM records_record AS r
                 WHERE r.id IN ({selection}) AND {sql_text(field, "r")} <> %(text)s
                 FOR UPDATE
            ), updated AS (
                UPDATE records_record AS r
                   SET {field} = %(value)s, version = r.version + 1, updated_at = %(now)s,
                       amendments = CASE
                           WHEN r.amendments -> %(field)s ->> 'source' = %(text)s
                               THEN r.amendments - %(field)s
                           WHEN r.amendments ? %(field)s
                               THEN r.amendments || jsonb_build_object(
                                   %(field)s, (r.amendments -> %(field)s) || %(stamp)s::jsonb)
                           ELSE r.amendments || jsonb_build_object(
                               %(field)s, jsonb_build_object('source', {sql_text(field, "t")})
                                   || %(stamp)s::jsonb)
                       END
                  FROM target AS t
                 WHERE r.id = t.id
                RETURNING r.*, ({sql_diff("t", "r")}) AS history_changes
            )
            INSERT INTO records_historicalrecord ({", ".join(tracked)}, history_date,
                history_type, history_user_id, history_change_reason, channel, changeset_id,
                changes, changed_fields, db_user)
            SELECT {", ".join(f"u.{column}" for column in tracked)}, %(now)s, '~', %(user)s,
                   %(reason)s, %(channel)s, %(changeset)s, u.history_changes,
                   {sql_changed_fields("u.history_changes")}, ''
              FROM updated AS u
            """,
            {
                "text": text,
                "value": value,
                "now": now,
                "field": field,
                "stamp": json.dumps(stamp),
                "user": by.pk if by else None,
                "reason": audit.reason,
                "channel": audit.channel,
                "changeset": changeset.pk,
            },
        )
        changed = cursor.rowcount
        if not changed:
            # Nothing changed, so there is no operation to show: the changeset goes too.
            changeset.delete()
            changeset = None
    log.info(
        "%s bulk-edited %s of %s: %s changed, %s already so",
        by,
        field,
        organisation.slug,
        changed,
        selected - changed,
    )
    return BulkEdit(changeset=changeset, selected=selected, changed=changed)
