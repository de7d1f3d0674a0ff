"""Imports: the real pipeline vs PostgreSQL's COPY vs django-import-export.

All on a copy of the bench database, dropped at the end, in this order:

* CSV, all new: the source file into a new, empty organisation (one per run), in a
  database already holding the 1.1M records of the others.
* CSV, all unchanged: the last refresh the dataset applied, sent again to "bench".
* CSV, 10% changed: the next refreshes (bench/sources.py), each changing a tenth of the
  rows, some of them amended by hand (those become conflicts).
* XLSX, all new: the 100,000-record "other" register as our export writes it, into a
  new organisation.

Each figure is the whole of what a person waits for (upload, preview, apply) in rows
per second of the file. The floor is COPY of the same CSV into a bare table of text
columns; the familiar alternative is django-import-export importing the file's first
rows (bench/familiar.py), scaled to rows per second.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import psycopg

from bench.context import Context
from bench.database import clone, drop
from bench.report import Result
from bench.sources import HEADERS, source_file


def run(ctx: Context) -> None:
    n = ctx.scale.rows
    files = ctx.files
    print(f"\nImports of {n:,} rows (files in {files})", flush=True)
    new_csv = source_file(files, n)
    unchanged_csv = source_file(files, n, refreshes=2)
    changed_csvs = [source_file(files, n, refreshes=2 + r) for r in range(1, ctx.runs + 1)]
    familiar_changed = [
        source_file(files, n, refreshes=2 + ctx.runs + r) for r in range(1, ctx.runs + 1)
    ]
    k = ctx.scale.slice_rows
    scratch_name = f"{ctx.scale.database}_scratch"
    uri = clone(ctx.admin_uri, ctx.scale.database, scratch_name)
    try:
        # The XLSX target is for a 100,000-row file: the "other" register, as exported.
        xlsx = files / f"register-other-{ctx.scale.other_rows}.xlsx"
        if not xlsx.exists():
            ctx.child(
                {"task": "export", "org": "other", "format": "xlsx", "path": str(xlsx)}, uri=uri
            )
        floor = [_copy_in(uri, new_csv) for _ in range(ctx.runs)]

        def ours(org: str, path: Path, what: str) -> dict:
            return ctx.child(
                {"task": "import", "org": org, "path": str(path), "reason": f"Bench: {what}"},
                uri=uri,
            )

        def familiar(org: str, path: Path, fmt: str = "csv") -> dict:
            return ctx.child(
                {"task": "familiar-import", "org": org, "path": str(path), "format": fmt}, uri=uri
            )

        cases = [
            (
                "import CSV, all new",
                lambda r: ours(f"new-{r}", new_csv, "all new"),
                lambda r: familiar(f"familiar-new-{r}", _head(new_csv, k, files)),
            ),
            (
                "import CSV, all unchanged",
                lambda r: ours("bench", unchanged_csv, "unchanged"),
                lambda r: familiar("bench", _head(unchanged_csv, k, files)),
            ),
            (
                "import CSV, 10% changed",
                lambda r: ours("bench", changed_csvs[r], "10% changed"),
                lambda r: familiar("bench", _head(familiar_changed[r], k, files)),
            ),
            (
                "import XLSX, all new",
                lambda r: ours(f"xlsx-{r}", xlsx, "XLSX"),
                lambda r: familiar(f"familiar-xlsx-{r}", _head_xlsx(new_csv, k, files), "xlsx"),
            ),
        ]
        targets = {
            "import CSV, all new": "≥ 50,000 rows/s",
            "import CSV, all unchanged": "≥ 150,000 rows/s",
            "import CSV, 10% changed": "≥ 50,000 rows/s",
            "import XLSX, all new": "≥ 20,000 rows/s",
        }
        for name, ours_run, familiar_run in cases:
            rows = ctx.scale.other_rows if "XLSX" in name else n
            done = [ours_run(r) for r in range(ctx.runs)]
            theirs = [familiar_run(r) for r in range(ctx.runs)]
            ctx.report.add(
                Result(
                    name=name,
                    unit="rows/s",
                    runs=[rows / d["seconds"] for d in done],
                    baseline_name="django-import-export",
                    baseline_runs=[t["rows"] / t["seconds"] for t in theirs],
                    floor_name="COPY",
                    floor_runs=floor,
                    target=targets[name],
                    details={
                        "rows": rows,
                        "seconds": [round(d["seconds"], 1) for d in done],
                        "preview_s": [round(d["preview_s"], 1) for d in done],
                        "apply_s": [round(d["apply_s"], 1) for d in done],
                        "counts": done[-1]["counts"],
                        "baseline_rows": theirs[0]["rows"],
                    },
                )
            )
            ctx.report.add(
                Result(
                    name=f"{name}: peak memory",
                    unit="MB",
                    runs=[d["peak_mb"] for d in done],
                    target="< 500 MB",
                )
            )
    finally:
        drop(ctx.admin_uri, scratch_name)


def _copy_in(uri: str, path: Path) -> float:
    """COPY the file into a bare temporary table of text columns; rows per second."""
    columns = ", ".join(f'"{header}" text' for header in HEADERS)
    with psycopg.connect(uri) as conn, open(path, "rb") as handle:
        conn.execute(f"CREATE TEMP TABLE copy_floor ({columns})")
        started = time.perf_counter()
        with conn.cursor().copy("COPY copy_floor FROM STDIN (FORMAT csv, HEADER true)") as copy:
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        seconds = time.perf_counter() - started
        rows = conn.execute("SELECT count(*) FROM copy_floor").fetchone()[0]
        conn.rollback()
    return rows / seconds


def _head(path: Path, rows: int, directory: Path) -> Path:
    """The file's header and first `rows` rows, as a file of its own."""
    head = directory / f"{path.stem}-head{rows}.csv"
    if not head.exists():
        with open(path, encoding="utf-8") as source, open(head, "w", encoding="utf-8") as out:
            out.writelines(itertools.islice(source, rows + 1))
    return head


def _head_xlsx(path: Path, rows: int, directory: Path) -> Path:
    """The same first rows as an XLSX file (written by tablib, as its users would have)."""
    import tablib  # noqa: PLC0415

    head = directory / f"{path.stem}-head{rows}.xlsx"
    if not head.exists():
        with open(_head(path, rows, directory), encoding="utf-8") as source:
            dataset = tablib.Dataset().load(source.read(), format="csv")
        head.write_bytes(dataset.export("xlsx"))
    return head
