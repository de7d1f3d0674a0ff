"""Exports: the whole register as CSV and XLSX vs COPY … TO vs django-import-export.

Ours is what the download buttons run (records_view with no filter: every live record
of "bench", sorted as the browser sorts), into a file, in a process of its own so its
peak memory is its own. The floor is `COPY (the same query) TO STDOUT` in CSV, read to
the end by the client; the familiar alternative is django-import-export's
RecordResource.export() of the register's first rows, scaled to rows per second.
"""

from __future__ import annotations

import time

import psycopg
from django.db import connection
from django.http import QueryDict

from accounts.models import Organisation
from bench.context import Context
from bench.report import Result
from records.services.exports.view import records_view

TARGETS = {
    "csv": ("≥ 200,000 rows/s", "< 150 MB"),
    "xlsx": ("≥ 40,000 rows/s", "< 300 MB"),
}


def run(ctx: Context) -> None:
    print(f"\nExports of {ctx.scale.rows:,} rows", flush=True)
    floor = [_copy_out(ctx.uri) for _ in range(ctx.runs)]
    for fmt in ("csv", "xlsx"):
        path = ctx.files / f"export.{fmt}"
        done = [
            ctx.child({"task": "export", "org": "bench", "format": fmt, "path": str(path)})
            for _ in range(ctx.runs)
        ]
        theirs = [
            ctx.child(
                {
                    "task": "familiar-export",
                    "org": "bench",
                    "format": fmt,
                    "rows": ctx.scale.slice_rows,
                }
            )
            for _ in range(ctx.runs)
        ]
        speed, memory = TARGETS[fmt]
        ctx.report.add(
            Result(
                name=f"export {fmt.upper()}",
                unit="rows/s",
                runs=[d["rows"] / d["seconds"] for d in done],
                baseline_name="django-import-export",
                baseline_runs=[t["rows"] / t["seconds"] for t in theirs],
                floor_name="COPY TO",
                floor_runs=floor,
                target=speed,
                details={
                    "rows": done[0]["rows"],
                    "seconds": [round(d["seconds"], 2) for d in done],
                    "bytes": path.stat().st_size,
                    "baseline_rows": theirs[0]["rows"],
                },
            )
        )
        ctx.report.add(
            Result(
                name=f"export {fmt.upper()}: peak memory",
                unit="MB",
                runs=[d["peak_mb"] for d in done],
                target=memory,
            )
        )
        path.unlink(missing_ok=True)


def _copy_out(uri: str) -> float:
    """COPY the rows the export writes, in its order, TO STDOUT as CSV; rows per second."""
    view = records_view(organisation=Organisation.objects.get(slug="bench"), params=QueryDict())
    sql, params = view.queryset.query.sql_with_params()
    query = connection.ops.compose_sql(sql, params)
    rows = 0
    with psycopg.connect(uri) as conn:
        started = time.perf_counter()
        with conn.cursor().copy(f"COPY ({query}) TO STDOUT (FORMAT csv)") as copy:
            for block in copy:
                rows += bytes(block).count(b"\n")
        seconds = time.perf_counter() - started
    return rows / seconds
