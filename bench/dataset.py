"""Build the bench's register the way a real one grows, through the product's own services.

1. seed_demo: the "other" organisation (100,000 records) and the people; the "bench"
   organisation's 1,000,000 records from its source's first import (bench/sources.py),
   one creation in the history for each.
2. Bulk edits by an editor (channel bulk) and amendments by hand, one record at a time
   through the edit service (channel web), spread over every tenth of the register.
3. Two monthly refreshes of the source through the import pipeline (bench/sources.py):
   each changes 10% of the records, and where a refreshed field was amended by hand
   the import keeps the amendment and opens a conflict.
4. The history's dates spread over two years, as a register's would be, then VACUUM
   ANALYZE.

Everything but the dates goes through records/services/, so the rows, amendments,
conflicts, fingerprints and history are exactly what the product writes.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from decimal import Decimal
from pathlib import Path

from django.core.files import File
from django.core.management import call_command
from django.db import connection, transaction

from accounts.models import Organisation, User
from bench.database import PASSWORD, Scale
from bench.sources import SEED, source_file
from records.models import Channel, Conflict, ImportRun, Record
from records.services import imports
from records.services.amend import record_amend
from records.services.bulk import records_bulk_edit

HAND_REASONS = (
    "Trustees confirmed the new name by email",
    "Income corrected from the latest annual return",
    "Postcode checked against Royal Mail",
    "Typo reported by the charity",
    "Merged record: name from the surviving charity",
    "Income restated after audit",
    "Phone call with the treasurer",
)


def build(scale: Scale, files: Path, log=print) -> dict:
    started = time.monotonic()
    log(f"  seeding other: {scale.other_rows:,} records")
    call_command(
        "seed_demo", rows=scale.other_rows, org="other", seed=2, password=PASSWORD, verbosity=0
    )
    # A register starts as its source's first import (so every record remembers the
    # source row it came from, as the next imports expect): the organisation and its
    # people from seed_demo, the records from the source file.
    call_command("seed_demo", rows=0, org="bench", seed=SEED, password=PASSWORD, verbosity=0)
    bench = Organisation.objects.get(slug="bench")
    editor = User.objects.get(username="editor")
    manager = User.objects.get(username="manager")
    log(f"  first import of bench: {scale.rows:,} records")
    run, _ = timed_import(
        bench, manager, source_file(files, scale.rows), reason="First load from the source"
    )
    if run.status != ImportRun.Status.APPLIED:
        raise RuntimeError(f"the first import did not apply: {run.error}")
    marks = {"seeded": _last_history_id()}

    log("  bulk edits")
    for category, region in (
        ("Relief of poverty", "London"),
        ("Arts, culture, heritage and science", "North West"),
    ):
        records_bulk_edit(
            organisation=bench,
            records=Record.objects.filter(category=category, region=region),
            field="category",
            value=f"{category} ({region})",
            reason=f"Regional split of {category} agreed with the data team",
            by=editor,
        )
    marks["bulk"] = _last_history_id()

    log(f"  {scale.amendments:,} amendments by hand")
    _amend_by_hand(bench, scale, [editor, manager])
    marks["hand"] = _last_history_id()

    for refresh in (1, 2):
        log(f"  refresh {refresh} through the import pipeline")
        path = source_file(files, scale.rows, refreshes=refresh)
        reason = f"Monthly refresh {refresh} from source"
        run, _ = timed_import(bench, manager, path, reason=reason)
        if run.status != ImportRun.Status.APPLIED:
            raise RuntimeError(f"refresh {refresh} did not apply: {run.error}")
        marks[f"refresh{refresh}"] = _last_history_id()

    log("  spreading the history over two years")
    _spread_history(marks)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM records_historicalrecord")
        history_rows = cursor.fetchone()[0]
    return {
        "records": Record.objects.count(),
        "history_rows": history_rows,
        "amended_records": Record.objects.exclude(amendments={}).count(),
        "open_conflicts": Conflict.objects.filter(resolved_at__isnull=True).count(),
        "build_seconds": round(time.monotonic() - started),
    }


def timed_import(organisation, user, path: Path, *, reason: str, channel=Channel.CLI):
    """Import a file through the whole pipeline in this process (upload, preview, apply);
    return the run and the seconds each step took."""
    seconds = {}
    started = time.perf_counter()
    with open(path, "rb") as handle:
        run = imports.import_create(
            organisation=organisation,
            user=user,
            file=File(handle, name=path.name),
            filename=path.name,
            channel=channel,
            defer=False,
        )
    seconds["upload_s"] = time.perf_counter() - started
    started = time.perf_counter()
    run = imports.import_preview(run=run)
    seconds["preview_s"] = time.perf_counter() - started
    if run.status != ImportRun.Status.PREVIEWED:
        return run, seconds
    started = time.perf_counter()
    run = imports.import_confirm(
        run=run, reason=reason, mode="upsert", skip_invalid=True, by=user, defer=False
    )
    run = imports.import_apply(run=run)
    seconds["apply_s"] = time.perf_counter() - started
    return run, seconds


def _amend_by_hand(organisation, scale: Scale, people) -> None:
    """Amend records spread over every tenth of the register (so refreshes meet them)."""
    rng = random.Random(7)
    step = scale.rows // scale.amendments
    numbers = [j * step + (j % 10) for j in range(scale.amendments)]
    references = [f"GB-CHC-{1_000_000 + i}" for i in numbers]
    chosen = Record.objects.filter(organisation=organisation, reference__in=references)
    for n, record in enumerate(chosen.order_by("pk").iterator(chunk_size=500)):
        field = ("name", "income", "postcode")[n % 3]
        if field == "name":
            value = f"{record.name} Trust"
        elif field == "income":
            value = Decimal(rng.randint(1_000, 900_000)).quantize(Decimal("0.01"))
        else:
            value = record.postcode.replace(" ", "  ").strip().upper()
            value = " ".join(value.split())[:-1] + "Z"
        record_amend(
            record=record,
            values={field: value},
            reason=rng.choice(HAND_REASONS),
            by=people[n % len(people)],
            version=record.version,
        )


def _last_history_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(history_id), 0) FROM records_historicalrecord")
        return cursor.fetchone()[0]


def _spread_history(marks: dict[str, int]) -> None:
    """Give each phase its own stretch of the last two years (history is append-only,
    so this one rewrite runs with the triggers off, as a restore from backup would)."""
    now = dt.datetime.now(dt.UTC)
    spans = {  # phase: (days ago it started, days ago it ended)
        "seeded": (730, 400),
        "bulk": (390, 380),
        "hand": (370, 70),
        "refresh1": (60, 60),
        "refresh2": (30, 30),
    }
    previous = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        for phase, last_id in marks.items():
            start, end = spans[phase]
            cursor.execute(
                """
                UPDATE records_historicalrecord
                   SET history_date = %(now)s - make_interval(days => %(start)s)
                       + (history_id - %(first)s)::float8 / greatest(%(last)s - %(first)s, 1)
                         * make_interval(days => %(start)s - %(end)s)
                 WHERE history_id > %(first)s AND history_id <= %(last)s
                """,
                {"now": now, "start": start, "end": end, "first": previous, "last": last_id},
            )
            cursor.execute(
                """
                UPDATE records_changeset AS c SET created_at = h.first
                  FROM (SELECT changeset_id, min(history_date) AS first
                          FROM records_historicalrecord
                         WHERE history_id > %s AND history_id <= %s AND changeset_id IS NOT NULL
                         GROUP BY changeset_id) AS h
                 WHERE c.id = h.changeset_id
                """,
                [previous, last_id],
            )
            previous = last_id
