"""Report a job's progress where the browser can see it while the job's transaction is open.

The apply runs in one long transaction, whose writes nobody sees until it commits, so
progress goes through a connection of its own, in autocommit, a few times a second at
most. Each report is also the job's heartbeat: a run whose heartbeat stops is dead.
"""

from __future__ import annotations

import time

import psycopg
from django.db import connection

HEARTBEAT_SECONDS = 2.0


class Progress:
    """Write phase, percent and row counts to an ImportRun (or ExportJob) row."""

    def __init__(self, table: str, pk: int, *, interval: float = 0.5, echo=None):
        self._table = table  # a model's db_table: records_importrun or records_exportjob
        self._pk = pk
        self._interval = interval
        self._echo = echo  # called with (phase, percent, processed) too: a command's progress bar
        self._last = 0.0
        self._conn: psycopg.Connection | None = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            params = connection.get_connection_params()
            params.pop("cursor_factory", None)
            params.pop("context", None)
            self._conn = psycopg.connect(**params, autocommit=True)
        return self._conn

    def report(
        self,
        phase: str,
        percent: float,
        *,
        processed: int | None = None,
        total: int | None = None,
        force: bool = False,
    ) -> None:
        now = time.monotonic()
        if not force and now - self._last < self._interval:
            return
        self._last = now
        if self._echo is not None:
            self._echo(phase, percent, processed)
        self._connection().execute(
            f"UPDATE {self._table} SET phase = %s, progress = %s, heartbeat_at = now(),"
            " processed_rows = coalesce(%s, processed_rows), total_rows = coalesce(%s, total_rows)"
            " WHERE id = %s",
            [phase[:80], max(0, min(100, int(percent))), processed, total, self._pk],
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
