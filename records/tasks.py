"""Background jobs, run by `manage.py procrastinate worker` on any machine reaching PostgreSQL."""

from __future__ import annotations

from procrastinate.contrib.django import app

from records.models import ImportRun
from records.services import imports


@app.task(queue="imports", name="records.import_preview")
def import_preview_job(run_id: int) -> None:
    """Check an uploaded file against the register (writes nothing to records)."""
    imports.import_preview(run=ImportRun.objects.get(pk=run_id))


@app.task(queue="imports", name="records.import_apply")
def import_apply_job(run_id: int) -> None:
    """Apply a confirmed import in one transaction."""
    imports.import_apply(run=ImportRun.objects.get(pk=run_id))
