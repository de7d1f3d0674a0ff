"""Keep what an organisation's records imply in step with them.

The Register's export columns (the `extra` keys seen) are noted by the services that
write records; the facet counts (FacetCount) are kept by PostgreSQL itself and only
folded here.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from accounts.models import Organisation
from records.models import Register


def register_note(*, organisation: Organisation, extra_columns: Iterable[str]) -> None:
    """Add the `extra` keys not seen before to the organisation's export columns."""
    extra_columns = list(extra_columns)
    if not extra_columns:
        return
    register = locked_register(organisation.pk)
    if add_extra_columns(register, extra_columns):
        register.save(update_fields=["extra_columns"])


def locked_register(organisation_id: int) -> Register:
    """The organisation's Register (created if need be), locked until the transaction ends."""
    register, _ = Register.objects.select_for_update().get_or_create(
        organisation_id=organisation_id
    )
    return register


def add_extra_columns(register: Register, keys: Iterable[str]) -> bool:
    """Append the keys the Register has not seen to its export columns (unsaved); whether
    there were any."""
    new = [key for key in dict.fromkeys(keys) if key not in register.extra_columns]
    register.extra_columns = [*register.extra_columns, *new]
    return bool(new)


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
