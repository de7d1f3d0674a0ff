"""Resolve import conflicts: keep the person's amendment, or accept the source's value."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils import timezone

from accounts.models import Organisation
from records.fields import FIELDS_BY_NAME
from records.models import Changeset, Channel, Conflict, Record
from records.services.audit import Audit, audited, diff, history_write_many, snapshot

Resolution = Conflict.Resolution


@dataclass(frozen=True)
class Resolved:
    kept: int
    accepted: int
    changeset: Changeset | None


def conflicts_resolve(
    *,
    organisation: Organisation,
    conflicts: Iterable[Conflict],
    resolution: str,
    reason: str,
    by,
    channel: Channel = Channel.WEB,
) -> Resolved:
    """Resolve open conflicts one way, with one reason; each record gets one history entry.

    Accepting the source value sets the field to it and clears the amendment. Keeping
    the amendment changes no field (the amendment already remembers the new source
    value). Either way the decision is in the record's history, as "conflict:<field>".
    Conflicts of several records resolved together are one operation (a Changeset).
    """
    if resolution not in Resolution.values:
        raise ValueError(f"Unknown resolution {resolution!r}")
    reason = (reason or "").strip()
    ids = [conflict.pk for conflict in conflicts]
    with audited():
        # Lock records before conflicts, in id order, as every writer does.
        open_conflicts = list(
            Conflict.objects.select_for_update(of=("self",))
            .filter(organisation=organisation, pk__in=ids, resolved_at__isnull=True)
            .order_by("record_id", "field")
        )
        records = {
            record.pk: record
            for record in Record.objects.select_for_update()
            .filter(organisation=organisation, pk__in={c.record_id for c in open_conflicts})
            .order_by("pk")
        }
        changeset = None
        if len(records) > 1:
            changeset = Changeset.objects.create(
                organisation=organisation,
                kind=Changeset.Kind.CONFLICTS,
                channel=channel,
                user=by,
                reason=reason,
                summary=f"{len(open_conflicts)} conflicts: {Resolution(resolution).label.lower()}",
            )
        audit = Audit(user=by, reason=reason, channel=channel, changeset=changeset)
        now = timezone.now()
        by_record: dict[int, list[Conflict]] = {}
        for conflict in open_conflicts:
            by_record.setdefault(conflict.record_id, []).append(conflict)

        history = []
        for record_id, record_conflicts in by_record.items():
            record = records[record_id]
            before = snapshot(record)
            decisions = {}
            for conflict in record_conflicts:
                if resolution == Resolution.ACCEPT:
                    _accept(record, conflict)
                    outcome = "accepted the source value"
                else:
                    outcome = f"kept the amendment: {conflict.amended_value}"
                decisions[f"conflict:{conflict.field}"] = [
                    f"source: {conflict.new_source}",
                    outcome,
                ]
            changed = diff(before, snapshot(record))
            if changed:
                record.version += 1
                record.save(update_fields=[*FIELDS_BY_NAME, "amendments", "version", "updated_at"])
            elif resolution == Resolution.ACCEPT:  # the value already equalled the source
                record.save(update_fields=["amendments"])
            history.append((record, {**changed, **decisions}, "~"))
        history_write_many(history, audit=audit)
        for conflict in open_conflicts:
            conflict.resolved_at = now
            conflict.resolved_by = by
            conflict.resolution = resolution
            conflict.resolution_reason = reason
        Conflict.objects.bulk_update(
            open_conflicts, ["resolved_at", "resolved_by", "resolution", "resolution_reason"]
        )
    kept = len(open_conflicts) if resolution == Resolution.KEEP else 0
    return Resolved(kept=kept, accepted=len(open_conflicts) - kept, changeset=changeset)


def _accept(record: Record, conflict: Conflict) -> None:
    """Set the field to the source's value; it is no longer amended."""
    core = FIELDS_BY_NAME[conflict.field]
    setattr(record, core.name, core.parse(conflict.new_source))
    record.amendments.pop(core.name, None)
