"""Load demo records in bulk: COPY into a staging table, then one INSERT … ON CONFLICT."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from django.db import connection

from accounts.models import Organisation
from records.fields import FIELD_NAMES
from records.models import Channel
from records.services.audit import audited, history_columns
from records.services.register import register_note

STAGING_COLUMNS = (*FIELD_NAMES, "extra")


def records_seed(
    *,
    organisation: Organisation,
    rows: Iterable[dict],
    by,
    reason: str,
    extra_columns: Iterable[str] = (),
    progress: Callable[[int], None] | None = None,
) -> int:
    """Add the rows whose reference the organisation lacks; return how many were added.

    Each new record gets one history row (channel: command line), written by the same
    statement that inserts it. Existing references are left alone, so loading twice
    adds nothing.
    """
    with audited(), connection.cursor() as cursor:
        columns = ", ".join(STAGING_COLUMNS)
        # The record's column types, none of its constraints. Dropped explicitly below:
        # ON COMMIT DROP would wait for the outermost transaction, and a caller's
        # transaction may load twice.
        cursor.execute(
            f"CREATE TEMP TABLE seed_staging AS SELECT {columns} FROM records_record WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY seed_staging ({columns}) FROM STDIN") as copy:
            for count, row in enumerate(rows, 1):
                copy.write_row([*(row[name] for name in FIELD_NAMES), json.dumps(row["extra"])])
                if progress and count % 10_000 == 0:
                    progress(count)
        tracked = history_columns()
        history_source = ", ".join(f"i.{column}" for column in tracked)
        cursor.execute(
            f"""
            WITH inserted AS (
                INSERT INTO records_record ({columns}, organisation_id, amendments, version,
                                            created_at, updated_at)
                SELECT {columns}, %(org)s, '{{}}', 1, now(), now() FROM seed_staging
                ON CONFLICT (organisation_id, reference) DO NOTHING
                RETURNING *
            )
            INSERT INTO records_historicalrecord ({", ".join(tracked)}, history_date,
                history_type, history_user_id, history_change_reason, channel, changes,
                changed_fields, db_user)
            SELECT {history_source}, now(), '+', %(user)s, %(reason)s, %(channel)s,
                   '{{}}', '{{}}', ''
              FROM inserted AS i
            """,
            {
                "org": organisation.pk,
                "user": by.pk if by else None,
                "reason": reason,
                "channel": Channel.CLI,
            },
        )
        added = cursor.rowcount
        cursor.execute("DROP TABLE seed_staging")
        if added:
            # Fresh statistics for the pages and imports that follow at once (autovacuum
            # would take them up to a minute later).
            cursor.execute("ANALYZE records_record, records_historicalrecord")
        register_note(organisation=organisation, extra_columns=extra_columns)
    return added
