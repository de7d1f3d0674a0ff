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
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Organisation
from records.fields import AMENDABLE_FIELDS, FIELDS_BY_NAME
from records.models import Changeset, Channel, Record
from records.services.audit import (
    Audit,
    begin_audited_write,
    history_columns,
    sql_changed_fields,
    sql_diff,
    sql_text,
)
from records.services.register import register_note

log = logging.getLogger(__name__)


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
    ids_sql, ids_params = ids.query.sql_with_params()
    stamp = json.dumps(
        {
            "by": by.pk if by else None,
            "by_name": str(by) if by else "",
            "at": timezone.now().isoformat(),
            "reason": reason,
        }
    )
    tracked = history_columns()
    with transaction.atomic(), connection.cursor() as cursor:
        begin_audited_write()
        summary = f"Set {core.label} to “{text}”" if text else f"Cleared {core.label}"
        changeset = Changeset.objects.create(
            organisation=organisation,
            kind=Changeset.Kind.BULK_EDIT,
            channel=channel,
            user=by,
            reason=reason,
            summary=summary[:200],
        )
        cursor.execute(f"SELECT count(*) FROM ({ids_sql}) AS selected", ids_params)
        selected = cursor.fetchone()[0]
        # `target` locks the rows that will change (FOR UPDATE re-checks the value if a
        # concurrent edit got there first); the UPDATE sees the old row as `t` and the
        # new one as `r`, so RETURNING can carry the diff into the history INSERT.
        cursor.execute(
            f"""
            WITH target AS (
                SELECT r.* FROM records_record AS r
                 WHERE r.id IN ({ids_sql}) AND {sql_text(field, "r")} <> %s
                 FOR UPDATE
            ), updated AS (
                UPDATE records_record AS r
                   SET {field} = %s, version = r.version + 1, updated_at = now(),
                       amendments = CASE
                           WHEN r.amendments -> %s ->> 'source' = %s THEN r.amendments - %s
                           WHEN r.amendments ? %s
                               THEN r.amendments || jsonb_build_object(
                                   %s, (r.amendments -> %s) || %s::jsonb)
                           ELSE r.amendments || jsonb_build_object(
                               %s, jsonb_build_object('source', {sql_text(field, "t")})
                                   || %s::jsonb)
                       END
                  FROM target AS t
                 WHERE r.id = t.id
                RETURNING r.*, ({sql_diff("t", "r")}) AS history_changes
            )
            INSERT INTO records_historicalrecord ({", ".join(tracked)}, history_date,
                history_type, history_user_id, history_change_reason, channel, changeset_id,
                changes, changed_fields, db_user)
            SELECT {", ".join(f"u.{column}" for column in tracked)}, now(), '~', %s, %s, %s,
                   %s, u.history_changes, {sql_changed_fields("u.history_changes")}, ''
              FROM updated AS u
            """,
            [
                *ids_params,
                text,
                value,
                field,
                text,
                field,
                field,
                field,
                field,
                stamp,
                field,
                stamp,
                by.pk if by else None,
                audit.reason,
                audit.channel,
                changeset.pk,
            ],
        )
        changed = cursor.rowcount
        if changed:
            register_note(organisation=organisation, values={field: text})
        else:
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
