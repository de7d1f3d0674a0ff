"""The set-based heart of an import: stage, plan, apply.

1. stage: parse every row (rows.py), COPY the good ones into a temporary table, and
   spool the problems of the bad ones to a file, then COPY those too. Memory stays flat.
   The preview keeps the staged rows (keep_staged) and the apply takes them back
   (restore_staged) instead of reading and parsing the file a second time.
2. plan: one statement joins the staged rows to the organisation's records and works
   out, per row, the new values under the amendment rules (records/models.py): a field
   nobody amended takes the source value; an amended field keeps the person's value, and
   if the source moved since the amendment, the row records a conflict and the amendment
   remembers the new source. Rows that change nothing are left out of the plan.
3. apply: INSERT … ON CONFLICT for new records and UPDATE … FROM for changed ones, each
   writing its history rows (and conflicts) in the same statement. An UPDATE only
   touches a record still at the version the plan saw, so an edit made meanwhile is
   never overwritten: its rows are planned again.

Column names in the SQL come from CORE_FIELDS, never from the file; values are bound.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import connection

from records.fields import CORE_FIELDS, FIELD_NAMES, Kind
from records.models import Channel, ImportRun
from records.services.audit import history_columns, sql_changed_fields, sql_diff, sql_text
from records.services.imports.rows import ColumnMap, RowParser
from records.spreadsheets import Sheet

# Rows of each kind kept as samples for the preview.
SAMPLE_SIZE = 100
# How many times rows changed by someone else during an apply are planned again.
MAX_PASSES = 5


class ImportBlocked(Exception):
    """The file cannot be applied as it is; the message says why."""


@dataclass
class Staged:
    """What staging found in the file."""

    rows: int = 0  # data rows read
    staged: int = 0  # rows in the staging table
    unchanged: int = 0  # rows skipped because their fingerprint matched
    invalid_rows: int = 0
    issues: int = 0
    # (row, column, message) of the first problems, for samples and messages.
    first_issues: list[tuple[int, str, str]] = field(default_factory=list)
    # The organisation's source generation before the fingerprints were read.
    generation: str = ""
    # False when no two rows share a reference (and refuse_duplicates need not look).
    may_repeat: bool = True


# Where the preview keeps each run's staged rows for its apply (see keep_staged).
KEPT_SCHEMA = "import_staging"

# Changed rows (or a tenth of the register, if more) past which the import first
# analyses the register (analyse_register_if_stale).
STALE_STATISTICS_ROWS = 10_000


def _cursor():
    return connection.cursor()


def _default_sql(core) -> str:
    if core.nullable:
        return "NULL"
    if core.kind is Kind.CHOICE:
        return f"'{core.empty}'"
    return "''"


class ImportSQL:
    """The statements of one import, for the core fields its file provides."""

    def __init__(self, columns: ColumnMap, *, organisation_id: int):
        self.columns = columns
        self.fields = columns.fields  # present core fields, reference first
        self.present = [name for name in self.fields if name != "reference"]
        self.organisation_id = organisation_id

    # -- staging ------------------------------------------------------------------

    def create_staging(self) -> str:
        names = ", ".join(self.fields)
        # The record's column types and none of its constraints. Dropped by drop_temp():
        # ON COMMIT DROP would wait for the outermost transaction.
        return (
            f"CREATE TEMP TABLE import_rows AS SELECT 0::integer AS row_number, {names}, extra, "
            "source_hash, false AS unchanged, false AS invalid, 0 AS issues "
            "FROM records_record WITH NO DATA"
        )

    def copy_staging(self) -> str:
        return (
            f"COPY import_rows (row_number, {', '.join(self.fields)}, extra, source_hash, "
            "unchanged, invalid, issues) FROM STDIN"
        )

    # -- plan ---------------------------------------------------------------------

    def create_plan(self, only_leftovers: bool = False, *, with_json: bool = True) -> str:
        """Plan every staged row (or only those a previous pass could not apply).

        Without JSON, the plan's changes, conflicts and new amendments are NULL: what a
        preview needs, which shows them for its samples only (plan_samples).
        """
        present = self.present
        source_columns = "".join(f", s.{name} AS s_{name}" for name in present)
        old_columns = "".join(f", r.{core.name} AS o_{core.name}" for core in CORE_FIELDS)
        # Rows the fingerprint showed unchanged are not planned at all.
        where_rows = "WHERE NOT s.unchanged AND NOT s.invalid" + (
            " AND s.row_number IN (SELECT row_number FROM import_leftover)"
            if only_leftovers
            else ""
        )
        matched = (
            f"SELECT s.row_number, s.reference AS s_reference{source_columns}, "
            f"s.extra AS s_extra, s.source_hash, r.id, r.version, r.amendments, r.deleted_at, "
            f"r.extra AS o_extra{old_columns} "
            "FROM import_rows s LEFT JOIN records_record r "
            f"ON r.organisation_id = {int(self.organisation_id)} AND r.reference = s.reference "
            f"{where_rows}"
        )

        new_values = []
        for core in CORE_FIELDS:
            name = core.name
            if name == "reference":
                value = "m.s_reference"
            elif name in present:
                value = (
                    f"CASE WHEN m.id IS NOT NULL AND m.amendments ? '{name}' "
                    f"THEN m.o_{name} ELSE m.s_{name} END"
                )
            else:
                value = f"CASE WHEN m.id IS NULL THEN {_default_sql(core)} ELSE m.o_{name} END"
            new_values.append(f"{value} AS {name}")
        new_values.append(
            "CASE WHEN m.id IS NULL THEN m.s_extra "
            "ELSE (m.o_extra - %(extra_keys)s::text[]) || m.s_extra END AS extra"
        )
        old_values = [f"m.o_{core.name} AS old_{core.name}" for core in CORE_FIELDS]
        old_values.append("m.o_extra AS old_extra")
        # A source that moved to the very value the person chose is no conflict: keeping
        # the amendment and accepting the source would give the same value. (It is what
        # importing an export of the register brings: amended values as the source.)
        conflict_flags = [
            f"(m.id IS NOT NULL AND m.amendments ? '{name}' AND "
            f"(m.amendments -> '{name}' ->> 'source') <> {sql_text(name, 'm', 's_')} AND "
            f"{sql_text(name, 'm', 's_')} <> {sql_text(name, 'm', 'o_')}) AS c_{name}"
            for name in present
        ]
        source_texts = [f"{sql_text(name, 'm', 's_')} AS src_{name}" for name in present]
        per_row = ", ".join(
            [
                "m.row_number",
                "m.id AS record_id",
                "m.version",
                "m.amendments",
                "m.source_hash",
                *new_values,
                *old_values,
                *conflict_flags,
                *source_texts,
            ]
        )

        differs = " OR ".join(
            ["n.record_id IS NULL", "n.extra <> n.old_extra"]
            + [f"n.{name} IS DISTINCT FROM n.old_{name}" for name in present]
        )
        conflicted = " OR ".join(f"n.c_{name}" for name in present) or "false"

        # The JSON is computed only for the rows that pass the WHERE: rows that change
        # nothing (the bulk of a re-import) cost a join and a few comparisons. OFFSET 0
        # keeps the planner from folding n into p: folded, each new value's CASE is
        # evaluated again wherever p names it (the plan of 100,000 changed rows: 1.5 s
        # folded, 1.35 s not).
        changes, conflicts, new_amendments = (
            (self.changes_json(), self.conflicts_json(), self._new_amendments_json())
            if with_json
            else ("NULL::jsonb",) * 3
        )
        return f"""
            CREATE TEMP TABLE import_plan AS
            SELECT p.*, {changes} AS changes, {conflicts} AS conflicts,
                   {new_amendments} AS new_amendments
              FROM (
                SELECT n.*, ({differs}) AS differs, ({conflicted}) AS conflicted
                  FROM (SELECT {per_row} FROM ({matched}) AS m OFFSET 0) AS n
              ) AS p
             WHERE p.differs OR p.conflicted
        """

    # The plan's JSON, over a row of import_plan (alias p): its diff, its conflicts and
    # the amendments it leaves, each NULL where there is none.

    def changes_json(self) -> str:
        return (
            "CASE WHEN p.record_id IS NOT NULL AND p.differs "
            f"THEN {sql_diff('p', 'p', old_prefix='old_')} END"
        )

    def conflicts_json(self) -> str:
        items = (
            " || ".join(
                f"CASE WHEN p.c_{name} THEN jsonb_build_array(jsonb_build_object("
                f"'field', '{name}', "
                f"'old_source', p.amendments -> '{name}' ->> 'source', "
                f"'new_source', p.src_{name}, "
                f"'amended_value', {sql_text(name, 'p')}, "
                f"'amended_by', p.amendments -> '{name}' ->> 'by', "
                f"'amended_reason', p.amendments -> '{name}' ->> 'reason', "
                f"'amended_at', p.amendments -> '{name}' ->> 'at')) ELSE '[]'::jsonb END"
                for name in self.present
            )
            or "'[]'::jsonb"
        )
        return f"CASE WHEN p.conflicted THEN {items} END"

    def _new_amendments_json(self) -> str:
        if not self.present:
            return "CASE WHEN p.conflicted THEN p.amendments END"
        updates = ", ".join(
            f"'{name}', CASE WHEN p.c_{name} THEN (p.amendments -> '{name}') || "
            f"jsonb_build_object('source', p.src_{name}) END"
            for name in self.present
        )
        return (
            "CASE WHEN p.conflicted THEN "
            f"p.amendments || jsonb_strip_nulls(jsonb_build_object({updates})) END"
        )

    # -- apply --------------------------------------------------------------------

    def insert_new(self) -> str:
        """Insert the plan's new records with their creation history; note which went in.

        (Not deleted from the plan: deleting a million rows of a temporary table that
        does not fit its buffers took 8 s. apply_plan looks at the notes instead.)
        """
        names = ", ".join(FIELD_NAMES)
        tracked = history_columns()
        return f"""
            WITH inserted AS (
                INSERT INTO records_record ({names}, extra, organisation_id, amendments,
                                            version, source_hash, created_at, updated_at)
                SELECT {names}, extra, {int(self.organisation_id)}, '{{}}', 1, source_hash,
                       now(), now()
                  FROM import_plan WHERE record_id IS NULL
                 ORDER BY name
                ON CONFLICT (organisation_id, reference) DO NOTHING
                RETURNING *
            ), history AS (
                INSERT INTO records_historicalrecord ({", ".join(tracked)}, history_date,
                    history_type, history_user_id, history_change_reason, channel,
                    changeset_id, changes, changed_fields, db_user)
                SELECT {", ".join(f"i.{c}" for c in tracked)}, now(), '+', %(user)s, %(reason)s,
                       %(channel)s, %(changeset)s, '{{}}', '{{}}', ''
                  FROM inserted AS i
            )
            INSERT INTO import_applied_new (reference) SELECT reference FROM inserted
        """

    def update_existing(self) -> str:
        """Update the plan's changed records (at the planned version) with history and
        conflicts; note which were updated."""
        assignments = ", ".join(
            [f"{name} = p.{name}" for name in self.present]
            + [
                "extra = p.extra",
                "source_hash = p.source_hash",
                "amendments = CASE WHEN p.conflicted THEN p.new_amendments ELSE r.amendments END",
                "version = r.version + CASE WHEN p.differs THEN 1 ELSE 0 END",
                "updated_at = CASE WHEN p.differs THEN now() ELSE r.updated_at END",
            ]
        )
        tracked = history_columns()
        return f"""
            WITH updated AS (
                UPDATE records_record r SET {assignments}
                  FROM import_plan p
                 WHERE p.record_id IS NOT NULL AND r.id = p.record_id AND r.version = p.version
                RETURNING r.*, p.row_number AS plan_row, p.differs AS plan_differs,
                          p.changes AS plan_changes, p.conflicts AS plan_conflicts
            ), history AS (
                INSERT INTO records_historicalrecord ({", ".join(tracked)}, history_date,
                    history_type, history_user_id, history_change_reason, channel,
                    changeset_id, changes, changed_fields, db_user)
                SELECT {", ".join(f"u.{c}" for c in tracked)}, now(), '~', %(user)s, %(reason)s,
                       %(channel)s, %(changeset)s, u.plan_changes,
                       {sql_changed_fields("u.plan_changes")}, ''
                  FROM updated AS u WHERE u.plan_differs
            ), conflicts AS (
                {self._conflict_upsert("updated", "u.plan_conflicts")}
            )
            INSERT INTO import_applied (row_number, conflicted)
            SELECT plan_row, plan_conflicts IS NOT NULL FROM updated
        """

    def _conflict_upsert(self, source: str, conflicts: str) -> str:
        return f"""
            INSERT INTO records_conflict (organisation_id, record_id, field, old_source,
                new_source, amended_value, amended_by_id, amended_reason, amended_at,
                import_run_id, created_at, resolution, resolution_reason)
            SELECT u.organisation_id, u.id, c.field, coalesce(c.old_source, ''), c.new_source,
                   c.amended_value, c.amended_by::bigint, coalesce(c.amended_reason, ''),
                   c.amended_at::timestamptz, %(run)s, now(), '', ''
              FROM {source} AS u,
                   jsonb_to_recordset({conflicts}) AS c(field text, old_source text,
                       new_source text, amended_value text, amended_by text,
                       amended_reason text, amended_at text)
             WHERE {conflicts} IS NOT NULL
            ON CONFLICT (record_id, field) WHERE resolved_at IS NULL
            DO UPDATE SET new_source = EXCLUDED.new_source,
                          amended_value = EXCLUDED.amended_value,
                          import_run_id = EXCLUDED.import_run_id,
                          created_at = EXCLUDED.created_at
        """

    def remove_absent(self) -> str:
        """Full refresh: the source now says `removed` for live records missing from the file."""
        tracked = history_columns()
        status = sql_text("status", "a", "old_")
        return f"""
            WITH absent AS (
                SELECT r.id, r.version, r.status AS old_status, r.amendments,
                       r.amendments ? 'status' AS amended
                  FROM records_record r
                 WHERE r.organisation_id = {int(self.organisation_id)} AND r.deleted_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM import_rows s WHERE s.reference = r.reference)
            ), removed AS (
                UPDATE records_record r
                   SET status = 'removed', version = r.version + 1, updated_at = now(),
                       source_hash = NULL
                  FROM absent a
                 WHERE r.id = a.id AND r.version = a.version AND NOT a.amended
                   AND r.status <> 'removed'
                RETURNING r.*, jsonb_build_object('status', jsonb_build_array({status}, 'removed'))
                          AS plan_changes
            ), history AS (
                INSERT INTO records_historicalrecord ({", ".join(tracked)}, history_date,
                    history_type, history_user_id, history_change_reason, channel,
                    changeset_id, changes, changed_fields, db_user)
                SELECT {", ".join(f"u.{c}" for c in tracked)}, now(), '~', %(user)s, %(reason)s,
                       %(channel)s, %(changeset)s, u.plan_changes, ARRAY['status'], ''
                  FROM removed AS u
            ), conflicted AS (
                UPDATE records_record r
                   SET amendments = jsonb_set(r.amendments, '{{status,source}}', '"removed"'),
                       source_hash = NULL
                  FROM absent a
                 WHERE r.id = a.id AND r.version = a.version AND a.amended
                   AND (a.amendments -> 'status' ->> 'source') <> 'removed'
                RETURNING r.*, jsonb_build_array(jsonb_build_object(
                    'field', 'status', 'old_source', a.amendments -> 'status' ->> 'source',
                    'new_source', 'removed', 'amended_value', r.status,
                    'amended_by', a.amendments -> 'status' ->> 'by',
                    'amended_reason', a.amendments -> 'status' ->> 'reason',
                    'amended_at', a.amendments -> 'status' ->> 'at')) AS plan_conflicts
            ), conflicts AS (
                {self._conflict_upsert("conflicted", "u.plan_conflicts")}
            )
            SELECT (SELECT count(*) FROM removed), (SELECT count(*) FROM conflicted)
        """

    def count_absent(self) -> str:
        """How many live records a full refresh would mark removed, and how many conflict."""
        return f"""
            SELECT count(*) FILTER (WHERE NOT (r.amendments ? 'status') AND r.status <> 'removed'),
                   count(*) FILTER (WHERE r.amendments ? 'status'
                                    AND (r.amendments -> 'status' ->> 'source') <> 'removed')
              FROM records_record r
             WHERE r.organisation_id = {int(self.organisation_id)} AND r.deleted_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM import_rows s WHERE s.reference = r.reference)
        """


# -- staging ---------------------------------------------------------------------------


def stage(
    sql: ImportSQL,
    sheet: Sheet,
    *,
    progress: Callable[[int], None] | None = None,
    issues_to: int | None = None,
) -> Staged:
    """Parse the sheet into import_rows; write issues to ImportIssue for run `issues_to`.

    Raises SpreadsheetError for a problem with the file itself (a ragged row, a bad
    encoding half-way through): that stops the import however many rows were good.
    """
    parser = RowParser(sql.columns)
    result = Staged()
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024, mode="w+", newline="")  # noqa: SIM115
    issues = csv.writer(spool)
    # Before the fingerprints: an import applied or a change made outside the app in
    # between moves it, and the apply then checks the skipped rows (restore_staged).
    result.generation = source_generation(sql.organisation_id)
    known: dict[int, int | None] = _known_fingerprints(sql.organisation_id)
    # An unchanged row is a line of COPY text with NULLs for everything it would not use,
    # written in batches: a third of the cost of write_row for each.
    nulls = "\\N\t" * len(sql.fields)
    blanks = [None] * (len(sql.fields) - 1)
    unchanged: list[str] = []
    # Whether a reference repeats, by hash: when none does, refuse_duplicates need not
    # look (0.6 s of SQL at a million rows). A register's reference, once met, is
    # marked in `known` (None: a second row with it is not skipped, and is refused);
    # the others are kept in `new`.
    new: set[int] = set()
    result.may_repeat = False
    with _cursor() as cursor:
        cursor.execute(sql.create_staging())
        with cursor.cursor.copy(sql.copy_staging()) as copy:
            write_row = copy.write_row
            for number, cells in sheet.rows():
                result.rows += 1
                fingerprint = parser.fingerprint(cells)
                reference = parser.reference(cells)
                if known and known.get(key := hash(reference)) == fingerprint:
                    # Imported before from exactly these cells: nothing to parse or compare.
                    known[key] = None
                    unchanged.append(
                        f"{number}\t{_copy_text(reference)}\t{nulls}{fingerprint}\tt\tf\t0\n"
                    )
                    if len(unchanged) == 2000:
                        copy.write("".join(unchanged))
                        unchanged.clear()
                    result.unchanged += 1
                    continue
                values, problems = parser.parse(cells)
                if values is None:
                    # Staged with its reference only, so that a reference given twice is
                    # refused on both rows even when one of them is bad for another reason.
                    write_row([number, reference, *blanks, None, None, False, True, len(problems)])
                    result.invalid_rows += 1
                    for column, message in problems:
                        issues.writerow((number, column, message))
                        result.issues += 1
                        if len(result.first_issues) < SAMPLE_SIZE:
                            result.first_issues.append((number, column, message))
                else:
                    write_row([number, *values, fingerprint, False, False, 0])
                    reference = values[0]  # as staged
                if reference and _seen_before(hash(reference), known, new):
                    result.may_repeat = True
                if progress is not None and result.rows % 5000 == 0:
                    progress(result.rows)
            copy.write("".join(unchanged))
        result.staged = result.rows - result.invalid_rows
        if issues_to is not None and result.issues:
            spool.seek(0)
            write_issues(issues_to, ((int(n), c, m) for n, c, m in csv.reader(spool)))
    spool.close()
    return result


def _seen_before(key: int, known: dict[int, int | None], new: set[int]) -> bool:
    """Whether a staged reference's hash was met before in the file; note that it was."""
    if key in known:
        if known[key] is None:
            return True
        known[key] = None
        return False
    if key in new:
        return True
    new.add(key)
    return False


def kept_table(run_id: int) -> str:
    return f"{KEPT_SCHEMA}.run_{int(run_id)}"


def keep_staged(run_id: int, *, generation: str) -> None:
    """Keep the staged rows of a preview for its apply, as they are now.

    Call it after refuse_duplicates (a property of the file) and before anything that
    depends on the register (refuse_new_without_required, the plan): the apply checks
    those again. UNLOGGED: the copy is never written to the WAL, and a crash empties it,
    which restore_staged notices. The table's comment holds the source generation the
    rows were compared with.
    """
    table = kept_table(run_id)
    with _cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE UNLOGGED TABLE {table} AS SELECT * FROM import_rows")
        cursor.execute(connection.ops.compose_sql(f"COMMENT ON TABLE {table} IS %s", [generation]))


def restore_staged(sql: ImportSQL, run_id: int) -> Staged | None:
    """Stage the rows the preview kept, if they are still there and still true; else None.

    A row the preview skipped as unchanged (its fingerprint matched its record's) was
    never parsed: if another import has moved that record's source since, the file
    must be read again, and so it is when the kept rows are missing (discarded, or
    emptied by a crash). The skipped rows are compared with their records only if a
    source may have moved since the preview (source_generation): with the organisation
    locked, no import can be applied meanwhile.
    """
    table = kept_table(run_id)
    with _cursor() as cursor:
        cursor.execute(
            "SELECT obj_description(to_regclass(%s), 'pg_class'), to_regclass(%s) IS NOT NULL",
            [table, table],
        )
        generation, kept = cursor.fetchone()
        if not kept:
            return None
        cursor.execute(f"CREATE TEMP TABLE import_rows AS SELECT * FROM {table}")
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE unchanged), "
            "count(*) FILTER (WHERE invalid), coalesce(sum(issues), 0) FROM import_rows"
        )
        rows, unchanged, invalid, issues = cursor.fetchone()
        moved = 0
        if unchanged and generation != source_generation(sql.organisation_id):
            # A count, not EXISTS: expecting to stop at the first row, the planner would
            # look each row up in the register's index (3.8 s at a million) rather than
            # hash them.
            cursor.execute(
                "SELECT count(*) FROM import_rows s LEFT JOIN records_record r "
                "ON r.organisation_id = %s AND r.reference = s.reference "
                "WHERE s.unchanged AND r.source_hash IS DISTINCT FROM s.source_hash",
                [sql.organisation_id],
            )
            (moved,) = cursor.fetchone()
        if rows == 0 or moved:
            cursor.execute("DROP TABLE import_rows")
            return None
    return Staged(
        rows=rows, staged=rows - invalid, unchanged=unchanged, invalid_rows=invalid, issues=issues
    )


def discard_staged(run_id: int) -> None:
    with _cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {kept_table(run_id)}")


def kept_runs() -> list[int]:
    """The runs whose staged rows are kept."""
    with _cursor() as cursor:
        cursor.execute(
            "SELECT substr(tablename, 5)::bigint FROM pg_tables "
            "WHERE schemaname = %s AND tablename ~ '^run_[0-9]+$'",
            [KEPT_SCHEMA],
        )
        return [run_id for (run_id,) in cursor.fetchall()]


def analyse_staged() -> None:
    """Give the planner statistics of the staged rows, and of the register if stale."""
    with _cursor() as cursor:
        cursor.execute("ANALYZE import_rows")
        analyse_register_if_stale(cursor)


def analyse_register_if_stale(cursor) -> None:
    """ANALYZE the register if much of it changed since its statistics were taken.

    Autovacuum does it too, but up to a minute late: an import right after seed_demo or
    a large import would otherwise be planned against a register of "one row", and its
    joins with the staged file would run as nested loops, quadratic in the file (minutes
    at 100,000 rows). ANALYZE reads a sample (30,000 rows): well under a second.
    """
    cursor.execute(
        "SELECT n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables "
        "WHERE relid = 'records_record'::regclass"
    )
    modified, live = cursor.fetchone()
    if modified > max(STALE_STATISTICS_ROWS, live * 0.1):
        cursor.execute("ANALYZE records_record")


_COPY_SPECIAL = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(text: str) -> str:
    """Escape a value for COPY's text format."""
    return (
        text.translate(_COPY_SPECIAL)
        if "\\" in text or "\t" in text or "\n" in text or "\r" in text
        else text
    )


def source_generation(organisation_id: int) -> str:
    """What moves whenever a record's source_hash may have, in the organisation.

    Two things write source_hash: an applied import (insert_new, update_existing,
    remove_absent), in the transaction that marks its run applied, and a change made
    outside the app, which clears it (migration 0004) and writes a history row of the
    "db" channel. Deleting a run or pruning history moves the figures too, which only
    costs the apply a check. (A change outside the app to nothing but a record's
    amendments clears its source_hash without a history row; such a record is compared
    in full by the next import, not by this one.)
    """
    with _cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(max(id), 0), "
            "(SELECT count(*) FROM records_historicalrecord "
            " WHERE organisation_id = %s AND channel = %s) "
            "FROM records_importrun WHERE organisation_id = %s AND status = %s",
            [organisation_id, Channel.DB, organisation_id, ImportRun.Status.APPLIED],
        )
        return ":".join(str(figure) for figure in cursor.fetchone())


def _known_fingerprints(organisation_id: int) -> dict[int, int]:
    """{hash(reference): source_hash} for the organisation's imported records.

    Keyed by Python's hash of the reference (stable within this process) rather than the
    reference itself: a million int keys take half the memory of a million strings.
    """
    known: dict[int, int] = {}
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            "SELECT reference, source_hash FROM records_record "
            "WHERE organisation_id = %s AND source_hash IS NOT NULL",
            [organisation_id],
        )
        while batch := cursor.fetchmany(50_000):
            for reference, fingerprint in batch:
                known[hash(reference)] = fingerprint
    return known


def write_issues(run_id: int, issues: Iterable[tuple[int, str, str]]) -> None:
    """COPY (row, column, message) problems into ImportIssue."""
    with (
        _cursor() as cursor,
        cursor.cursor.copy(
            'COPY records_importissue (row, "column", message, run_id) FROM STDIN'
        ) as copy,
    ):
        for number, column, message in issues:
            copy.write_row((number, column[:255], message, run_id))


def refuse_duplicates() -> tuple[int, list[tuple[int, str, str]]]:
    """Refuse every row whose reference appears more than once.

    Invalid rows stay staged (flagged): they are in the file, so a full refresh must
    not take their records for missing ones. Each row's `issues` counts the refusal, so
    that rows restored from a preview (restore_staged) need not be refused again.

    Returns how many rows this made invalid that were not already, and the issues (one
    for each row of a repeated reference, already invalid or not).
    """
    with _cursor() as cursor:
        cursor.execute(
            """
            WITH repeated_references AS (
                SELECT reference FROM import_rows WHERE reference <> ''
                 GROUP BY reference HAVING count(*) > 1
            ), repeated AS (
                -- Row numbers for the few repeated references only: ordered over the
                -- whole file, the aggregate sorted every row by reference (1.0 s at a
                -- million rows, against 0.69 s hashing the references first).
                SELECT s.reference, array_agg(s.row_number ORDER BY s.row_number) AS numbers
                  FROM import_rows s JOIN repeated_references USING (reference)
                 GROUP BY s.reference
            )
            UPDATE import_rows s SET invalid = true, issues = s.issues + 1 FROM repeated d
             WHERE s.reference = d.reference
            RETURNING s.row_number, s.reference, d.numbers,
                      (SELECT i.invalid FROM import_rows i WHERE i.row_number = s.row_number)
            """
        )
        rows = sorted(cursor.fetchall())
    newly_invalid = sum(1 for *_, invalid in rows if not invalid)
    issues = [
        (
            number,
            "reference",
            f"“{reference}” appears more than once in the file (rows "
            f"{', '.join(str(n) for n in numbers[:10])}{'…' if len(numbers) > 10 else ''})",
        )
        for number, reference, numbers, _ in rows
    ]
    return newly_invalid, issues


def refuse_new_without_required(sql: ImportSQL) -> tuple[int, list[tuple[int, str, str]]]:
    """Refuse new records the file cannot give every required field.

    (Status is required of a cell, but a file without a status column leaves new
    records at the declared default.)
    """
    missing = [
        core
        for core in CORE_FIELDS
        if core.required and core.name not in sql.fields and core.name != "status"
    ]
    if not missing:
        return 0, []
    labels = ", ".join(core.label for core in missing)
    with _cursor() as cursor:
        cursor.execute(
            "UPDATE import_rows s SET invalid = true WHERE NOT s.invalid "
            "AND NOT EXISTS (SELECT 1 FROM records_record r "
            "WHERE r.organisation_id = %s AND r.reference = s.reference) "
            "RETURNING s.row_number, s.reference",
            [sql.organisation_id],
        )
        rows = sorted(cursor.fetchall())
    issues = [
        (
            number,
            missing[0].name,
            f"“{reference}” is not in the register yet, and a new record needs {labels}: "
            "the file has no such column",
        )
        for number, reference in rows
    ]
    return len(rows), issues


def build_plan(sql: ImportSQL, *, only_leftovers: bool = False, with_json: bool = True) -> None:
    with _cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS import_plan")
        cursor.execute(
            sql.create_plan(only_leftovers, with_json=with_json),
            {"extra_keys": list(sql.columns.extra_keys)},
        )
        # A temporary table has no statistics until analysed: without them the planner
        # guesses a few hundred rows and joins the plan to the register with a nested
        # loop, which at a million rows is minutes instead of seconds. Only the columns
        # the apply joins and filters on: the values and their JSON diffs took 1 s more.
        cursor.execute(
            "ANALYZE import_plan (row_number, record_id, version, reference, differs, conflicted)"
        )


def plan_counts() -> dict[str, int]:
    with _cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FILTER (WHERE record_id IS NULL),
                   count(*) FILTER (WHERE record_id IS NOT NULL AND conflicted),
                   count(*) FILTER (WHERE record_id IS NOT NULL AND differs AND NOT conflicted),
                   count(*)
              FROM import_plan
            """
        )
        new, conflicting, changed, planned = cursor.fetchone()
    return {"new": new, "conflicting": conflicting, "changed": changed, "planned": planned}


def plan_samples(sql: ImportSQL, *, limit: int = SAMPLE_SIZE) -> dict[str, list[dict]]:
    """The first rows of each kind, for the preview (their JSON computed here, for them only)."""
    samples: dict[str, list[dict]] = {}

    def planned(where: str, json: str) -> str:
        # The first rows, then their JSON (only theirs: the preview plans without it).
        return (
            f"SELECT p.row_number, p.reference, p.name, p.record_id, {json} "
            f"FROM (SELECT * FROM import_plan WHERE {where} ORDER BY row_number LIMIT %s) AS p "
            "ORDER BY p.row_number"
        )

    queries = {
        "new": planned("record_id IS NULL", "NULL, NULL"),
        "changed": planned(
            "record_id IS NOT NULL AND differs AND NOT conflicted", f"{sql.changes_json()}, NULL"
        ),
        "conflicting": planned(
            "record_id IS NOT NULL AND conflicted", f"{sql.changes_json()}, {sql.conflicts_json()}"
        ),
        "unchanged": "SELECT s.row_number, s.reference, r.name, r.id, NULL, NULL "
        "FROM import_rows s JOIN records_record r "
        f"ON r.organisation_id = {int(sql.organisation_id)} "
        "AND r.reference = s.reference "
        "WHERE NOT s.invalid "
        "AND NOT EXISTS (SELECT 1 FROM import_plan p WHERE p.row_number = s.row_number) "
        "ORDER BY s.row_number LIMIT %s",
    }
    with _cursor() as cursor:
        for kind, query in queries.items():
            cursor.execute(query, [limit])
            samples[kind] = [
                {
                    "row": row,
                    "reference": reference,
                    "name": name,
                    "record_id": record_id,
                    "changes": _json(changes, {}),
                    "conflicts": _json(conflicts, []),
                }
                for row, reference, name, record_id, changes, conflicts in cursor.fetchall()
            ]
    return samples


def _json(value, empty):
    # Django's connection hands jsonb back as text (its JSONField parses it).
    if value is None:
        return empty
    return json.loads(value) if isinstance(value, str) else value


@dataclass
class Applied:
    new: int = 0
    changed: int = 0
    conflicting: int = 0
    removed: int = 0
    removed_conflicts: int = 0
    passes: int = 0


def apply_plan(sql: ImportSQL, params: dict, *, planned: int) -> Applied:
    """Apply the plan (`planned` rows, as plan_counts counted them); plan again the rows
    someone else changed meanwhile, a few times."""
    result = Applied()
    with _cursor() as cursor:
        for attempt in range(1, MAX_PASSES + 1):
            if planned == 0:
                return result
            result.passes = attempt
            cursor.execute("DROP TABLE IF EXISTS import_applied_new, import_applied")
            cursor.execute("CREATE TEMP TABLE import_applied_new (reference text)")
            cursor.execute("CREATE TEMP TABLE import_applied (row_number integer, conflicted bool)")
            cursor.execute(sql.insert_new(), params)
            cursor.execute(sql.update_existing(), params)
            cursor.execute(
                "SELECT (SELECT count(*) FROM import_applied_new), count(*), "
                "count(*) FILTER (WHERE conflicted) FROM import_applied"
            )
            new, updated, conflicting = cursor.fetchone()
            result.new += new
            result.changed += updated - conflicting
            result.conflicting += conflicting
            if new + updated == planned:
                return result
            # What is left was changed (or created) by someone else after it was planned:
            # plan it again.
            cursor.execute(
                "DELETE FROM import_plan p USING import_applied_new a "
                "WHERE p.record_id IS NULL AND p.reference = a.reference"
            )
            cursor.execute(
                "DELETE FROM import_plan p USING import_applied a WHERE p.row_number = a.row_number"
            )
            cursor.execute("DROP TABLE IF EXISTS import_leftover")
            cursor.execute(
                "CREATE TEMP TABLE import_leftover AS SELECT row_number FROM import_plan"
            )
            build_plan(sql, only_leftovers=True)
            planned = plan_counts()["planned"]
    raise ImportBlocked(
        "Records in this file kept changing while the import ran; nothing was changed. "
        "Try again in a moment."
    )


def remove_absent(sql: ImportSQL, params: dict) -> tuple[int, int]:
    with _cursor() as cursor:
        cursor.execute(sql.remove_absent(), params)
        return cursor.fetchone()


def count_absent(sql: ImportSQL) -> tuple[int, int]:
    with _cursor() as cursor:
        cursor.execute(sql.count_absent())
        return cursor.fetchone()


def drop_temp() -> None:
    with _cursor() as cursor:
        cursor.execute(
            "DROP TABLE IF EXISTS import_rows, import_plan, import_leftover, "
            "import_applied_new, import_applied"
        )
