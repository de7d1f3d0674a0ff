"""Keep an organisation's Register (filter menu values, extra columns) in step with its records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db import connection

from accounts.models import Organisation
from records.fields import FACET_FIELDS
from records.models import Register

FREE_TEXT_FACETS = tuple(core.name for core in FACET_FIELDS if core.choices is None)


def register_refresh_values(*, organisation: Organisation) -> Register:
    """Recompute the distinct values of the free-text facet fields: one scan, after bulk writes."""
    register, _ = Register.objects.select_for_update().get_or_create(organisation=organisation)
    values = {}
    with connection.cursor() as cursor:
        for name in FREE_TEXT_FACETS:
            cursor.execute(
                f"SELECT DISTINCT {name} FROM records_record "
                f"WHERE organisation_id = %s AND deleted_at IS NULL AND {name} <> '' ORDER BY 1",
                [organisation.pk],
            )
            values[name] = [row[0] for row in cursor.fetchall()]
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
