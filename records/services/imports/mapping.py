"""Match a file's headers to fields: by name, label or alias, or as last time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.core.exceptions import ValidationError

from records.fields import CORE_FIELDS, FIELDS_BY_NAME, header_lookup, normalise_header
from records.services.imports.rows import EXTRA_PREFIX, ColumnMap


def suggest_columns(headers: Sequence[str], remembered: Mapping[str, str]) -> ColumnMap:
    """Propose a target for each header.

    "extra:<key>" is always the extra column <key> (the export writes it so for keys
    that would read as a field). Otherwise what the organisation chose for a header
    before wins; then a core field whose name, label or alias matches; everything else
    goes to `extra` under its own header. A field claimed by two headers goes to the
    first; the second goes to `extra`.
    """
    lookup = header_lookup()
    taken: set[str] = set()
    targets = []
    for header in headers:
        key = normalise_header(header)
        target = remembered.get(key)
        if header.startswith(EXTRA_PREFIX) and len(header) > len(EXTRA_PREFIX):
            # How the export names an extra column that would otherwise read as a field.
            target = header.strip()
        elif target is None or not _valid_target(target):
            target = lookup.get(key) or _extra(header)
        if target in FIELDS_BY_NAME:
            if target in taken:
                target = _extra(header)
            taken.add(target)
        targets.append(target)
    return ColumnMap(tuple(headers), tuple(targets))


def columns_from_choices(headers: Sequence[str], choices: Mapping[str, str]) -> ColumnMap:
    """Build the map a person chose ({header: target}); raise ValidationError if it is unusable."""
    targets = []
    seen: dict[str, str] = {}
    errors = []
    for header in headers:
        target = choices.get(header, "")
        if target == EXTRA_PREFIX:
            target = _extra(header)
        if target and not _valid_target(target):
            errors.append(f"“{header}”: choose a field, an extra column or “ignore”.")
            continue
        if target in FIELDS_BY_NAME:
            if target in seen:
                label = FIELDS_BY_NAME[target].label
                errors.append(f"“{seen[target]}” and “{header}” are both mapped to {label}.")
            seen[target] = header
        targets.append(target)
    columns = ColumnMap(tuple(headers), tuple(targets))
    errors.extend(problems(columns))
    if errors:
        raise ValidationError(errors)
    return columns


def problems(columns: ColumnMap) -> list[str]:
    """What stops a column map from being imported."""
    if "reference" not in columns.fields:
        names = ", ".join(f"“{h}”" for h in columns.headers[:8])
        return [
            "No column is mapped to Reference, the key that identifies each record. "
            f"Choose which of the file's columns ({names}) holds it."
        ]
    return []


def remember(current: Mapping[str, str], columns: ColumnMap) -> dict[str, str]:
    """Return the organisation's remembered map updated with these columns."""
    updated = dict(current)
    for header, target in zip(columns.headers, columns.targets, strict=True):
        updated[normalise_header(header)] = target
    return updated


def target_choices() -> list[tuple[str, str]]:
    """The options offered for each column: the core fields, extra, ignore."""
    options = [(core.name, core.label) for core in CORE_FIELDS]
    return [*options, (EXTRA_PREFIX, "Keep as an extra column"), ("", "Ignore this column")]


def _extra(header: str) -> str:
    return f"{EXTRA_PREFIX}{header.strip()}"


def _valid_target(target: str) -> bool:
    return (
        target == ""
        or target in FIELDS_BY_NAME
        or (target.startswith(EXTRA_PREFIX) and len(target) > len(EXTRA_PREFIX))
    )
