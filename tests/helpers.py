"""Builders shared by the tests: spreadsheet files, imports driven to the end, amendments."""

from __future__ import annotations

import csv
import io

from django.core.files.base import ContentFile
from django.utils import timezone

from records.fields import FIELDS_BY_NAME
from records.models import ImportRun, Record
from records.services import imports
from records.services.audit import Audit, audited, diff, history_write, snapshot

Status = ImportRun.Status

HEADERS = [
    "reference",
    "name",
    "status",
    "category",
    "region",
    "postcode",
    "income",
    "registered_on",
    "website",
    "charity_type",
]


def csv_bytes(rows: list[dict], headers: list[str] = HEADERS) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=headers, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({h: row.get(h, "") for h in headers})
    return out.getvalue().encode()


def row(reference: str, **fields) -> dict:
    base = {
        "reference": reference,
        "name": f"Charity {reference}",
        "status": "registered",
        "category": "Education/training",
        "region": "London",
        "postcode": "E1 6AN",
        "income": "1000.00",
        "registered_on": "2001-02-03",
        "website": "",
        "charity_type": "CIO",
    }
    return {**base, **fields}


def start(organisation, user, content: bytes, filename: str = "register.csv", **options):
    return imports.import_create(
        organisation=organisation,
        user=user,
        file=ContentFile(content, name=filename),
        filename=filename,
        options=options,
        defer=False,
    )


def preview(organisation, user, content: bytes, **kwargs) -> ImportRun:
    run = start(organisation, user, content, **kwargs)
    assert run.status == Status.PREVIEWING, run.error
    return imports.import_preview(run=run)


def apply(run: ImportRun, user, *, mode="upsert", skip_invalid=False, reason="Monthly refresh"):
    run = imports.import_confirm(
        run=run, reason=reason, mode=mode, skip_invalid=skip_invalid, by=user, defer=False
    )
    return imports.import_apply(run=run)


def load(organisation, user, rows, *, mode="upsert", skip_invalid=False, headers=HEADERS):
    run = preview(organisation, user, csv_bytes(rows, headers))
    assert run.status == Status.PREVIEWED, run.error
    return apply(run, user, mode=mode, skip_invalid=skip_invalid)


def records(organisation) -> dict[str, Record]:
    return {r.reference: r for r in Record.objects.filter(organisation=organisation)}


def amend(record: Record, user, **values) -> Record:
    """Change fields by hand the way the edit service does (amendment bookkeeping included)."""
    with audited():
        before = snapshot(record)
        for name, value in values.items():
            core = FIELDS_BY_NAME[name]
            if name not in record.amendments:
                record.amendments[name] = {
                    "source": core.to_text(getattr(record, name)),
                    "by": user.pk,
                    "by_name": user.username,
                    "at": timezone.now().isoformat(),
                    "reason": "By hand",
                }
            setattr(record, name, value)
        record.version += 1
        record.save()
        history_write(
            record, audit=Audit(user=user, reason="By hand"), changes=diff(before, snapshot(record))
        )
    return record
