"""Retention: the one deliberate way history rows are ever removed.

History is append-only: a trigger (migration 0002) refuses UPDATE and DELETE on it
unless the transaction has set `records_desk.history_retention` to 'on'. `history_prune`
sets it for its own transaction only (set_config(…, true): it ends with the commit),
deletes the rows older than a day, and logs loudly what it removed.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Organisation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pruned:
    organisation: str
    channel: str
    rows: int


def history_cutoff(before: dt.date) -> dt.datetime:
    """The first moment kept: midnight (local time) at the start of `before`."""
    return dt.datetime.combine(before, dt.time.min, tzinfo=timezone.get_current_timezone())


def history_prune(
    *, before: dt.date, organisation: Organisation | None = None, dry_run: bool = False
) -> list[Pruned]:
    """Delete history rows older than `before` (of one organisation, or all); say what went.

    With `dry_run`, count what would go and delete nothing (the guard stays up).
    """
    cutoff = history_cutoff(before)
    where = "h.history_date < %s"
    params: list = [cutoff]
    if organisation is not None:
        where += " AND h.organisation_id = %s"
        params.append(organisation.pk)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT o.slug, h.channel, count(*)
              FROM records_historicalrecord AS h
              JOIN accounts_organisation AS o ON o.id = h.organisation_id
             WHERE {where}
             GROUP BY o.slug, h.channel ORDER BY o.slug, h.channel
            """,
            params,
        )
        pruned = [Pruned(slug, channel, rows) for slug, channel, rows in cursor.fetchall()]
        total = sum(p.rows for p in pruned)
        if dry_run or not total:
            return pruned
        log.warning(
            "RETENTION: lifting the append-only guard of the history for this transaction "
            "only, to delete %s rows older than %s%s",
            f"{total:,}",
            cutoff.isoformat(),
            f" of {organisation.slug}" if organisation else " of every organisation",
        )
        cursor.execute("SELECT set_config('records_desk.history_retention', 'on', true)")
        cursor.execute(f"DELETE FROM records_historicalrecord AS h WHERE {where}", params)
        for item in pruned:
            log.warning(
                "RETENTION: deleted %s history rows of %s (channel %s) older than %s",
                f"{item.rows:,}",
                item.organisation,
                item.channel,
                before.isoformat(),
            )
        if cursor.rowcount != total:  # rows written meanwhile cannot be older than now
            log.warning("RETENTION: counted %s rows but deleted %s", total, cursor.rowcount)
    return pruned
