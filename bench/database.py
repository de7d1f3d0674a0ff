"""The bench's PostgreSQL, its database (built once per dataset version) and its copies.

The server is the one DATABASE_URL points at, if set, else a private embedded one kept
under .data/ (so the dataset survives between runs). The bench never touches the
database DATABASE_URL names: it creates its own beside it, `records_desk_bench_<scale>`,
and rebuilds it only when DATASET_VERSION or the scale changes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg

from scripts.embedded_pg import create_database, embedded_postgres, with_database

# The password of the bench's users (viewer, editor, manager, admin).
PASSWORD = "bench-password"  # noqa: S105 - throwaway users of a throwaway database

# Bump when the dataset's shape changes: the next run rebuilds it.
DATASET_VERSION = 3


@dataclass(frozen=True)
class Scale:
    label: str
    rows: int  # records of the organisation measured ("bench")
    other_rows: int  # records of a second organisation ("other"), never shown to bench's users
    amendments: int  # records amended by hand, one at a time, through the edit service
    slice_rows: int  # rows django-import-export imports and exports (it is ~1,000 rows/s)
    page_repeats: int  # times each page request is timed

    @property
    def database(self) -> str:
        return f"records_desk_bench_{self.label}"


FULL = Scale("1m", 1_000_000, 100_000, 2_000, 2_000, 7)
QUICK = Scale("100k", 100_000, 10_000, 500, 1_000, 5)


@contextlib.contextmanager
def server() -> Iterator[str]:
    """Yield the URI of the server's maintenance database ("postgres")."""
    if url := os.environ.get("DATABASE_URL"):
        yield with_database(url, "postgres")
        return
    with embedded_postgres("postgres-bench") as uri:
        yield with_database(uri, "postgres")


def connect(uri: str) -> psycopg.Connection:
    return psycopg.connect(uri, autocommit=True)


def create_database_for(admin_uri: str, scale: Scale, *, rebuild: bool = False) -> str:
    """The bench database's URI: kept if it holds this dataset version, else emptied."""
    uri = with_database(admin_uri, scale.database)
    if rebuild or built(uri) is None:
        return recreate(admin_uri, scale.database)
    return uri


def built(uri: str) -> dict | None:
    """What the dataset in a bench database holds, or None if it holds none of this version."""
    try:
        with connect(uri) as conn:
            if conn.execute("SELECT to_regclass('bench_dataset')").fetchone()[0] is None:
                return None
            row = conn.execute("SELECT version, details FROM bench_dataset").fetchone()
    except psycopg.OperationalError:
        return None
    if not row or row[0] != DATASET_VERSION:
        return None
    return row[1]


def recreate(admin_uri: str, name: str) -> str:
    drop(admin_uri, name)
    return create_database(admin_uri, name)


def drop(admin_uri: str, name: str) -> None:
    with connect(admin_uri) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def clone(admin_uri: str, template: str, name: str) -> str:
    """A copy of `template` (which must have no connections) as `name`; its URI."""
    drop(admin_uri, name)
    with connect(admin_uri) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return with_database(admin_uri, name)


def mark_built(uri: str, details: dict) -> None:
    with connect(uri) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_dataset")
        conn.execute(
            "CREATE TABLE bench_dataset (version integer, built_at timestamptz, details jsonb)"
        )
        conn.execute(
            "INSERT INTO bench_dataset VALUES (%s, now(), %s)",
            [DATASET_VERSION, psycopg.types.json.Jsonb(details)],
        )


def vacuum_analyze(uri: str) -> None:
    with connect(uri) as conn:
        conn.execute("VACUUM (ANALYZE)")
