"""Keep an organisation's Register (filter menu values, extra columns) in step with its records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db import connection

from accounts.models import Organisation
from records.fields import FACET_FIELDS
from records.models import Register

FREE_TEXT_FACETS = tuple(core.name for core in FACET_FIELDS if core.choices is None)


def register_refresh_values(*, organisation: Organisation) -> Register:
    """Recompute the values of the free-text facet fields after bulk writes.

    From the facet counts the database keeps (FacetCount), not from a scan of the
    records: the values some live record has.
    """
    register, _ = Register.objects.select_for_update().get_or_create(organisation=organisation)
    values = {name: [] for name in FREE_TEXT_FACETS}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT field, value FROM records_facetcount "
            "WHERE organisation_id = %s AND field = ANY(%s) AND value <> '' "
            "GROUP BY field, value HAVING sum(count) > 0 ORDER BY field, value",
            [organisation.pk, list(FREE_TEXT_FACETS)],
        )
        for name, value in cursor.fetchall():
            values[name].append(value)
    register.facet_values = values
    register.save(update_fields=["facet_values"])
    return register


def register_note(
    *,
    organisation: Organisation,
    values: Mapping[str, str] = (),  # type: ignore[assignment]
    extra_columns: Iterable[str] = (),
) -> None:
    """Add new facet values and extra columns after a small write (an edit, a bulk edit)."""
    values = dict(values)
    extra_columns = list(extra_columns)
    wanted = {k: v for k, v in values.items() if k in FREE_TEXT_FACETS and v}
    if not wanted and not extra_columns:
        return
    register, _ = Register.objects.select_for_update().get_or_create(organisation=organisation)
    changed = False
    for name, value in wanted.items():
        known = register.facet_values.get(name, [])
        if value not in known:
            register.facet_values[name] = sorted([*known, value])
            changed = True
    for key in extra_columns:
        if key not in register.extra_columns:
            register.extra_columns = [*register.extra_columns, key]
            changed = True
    if changed:
        register.save(update_fields=["facet_values", "extra_columns"])


def facet_counts_compact() -> int:
    """Fold each organisation's facet count rows into one per (field, value); return the rows left.

    One statement: the rows it deletes are those committed when it starts, so rows that
    writers add meanwhile stay as they are, and a second compaction running at the same
    time skips the rows this one took.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH taken AS (
                DELETE FROM records_facetcount RETURNING organisation_id, field, value, count
            )
            INSERT INTO records_facetcount (organisation_id, field, value, count)
            SELECT organisation_id, field, value, sum(count) FROM taken
             GROUP BY organisation_id, field, value HAVING sum(count) <> 0
            """
        )
        return cursor.rowcount
