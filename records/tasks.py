"""Background jobs, run by `manage.py procrastinate worker` on any machine reaching PostgreSQL."""

from __future__ import annotations

from procrastinate.contrib.django import app

from records.models import ExportJob, ImportRun
from records.services import exports, imports, register


@app.task(queue="imports", name="records.import_preview")
def import_preview_job(run_id: int) -> None:
    """Check an uploaded file against the register (writes nothing to records)."""
    imports.import_preview(run=ImportRun.objects.get(pk=run_id))


@app.task(queue="imports", name="records.import_apply")
def import_apply_job(run_id: int) -> None:
    """Apply a confirmed import in one transaction."""
    imports.import_apply(run=ImportRun.objects.get(pk=run_id))


@app.task(queue="exports", name="records.export_run")
def export_run_job(job_id: int) -> None:
    """Write a large XLSX export and store it for download."""
    exports.export_job_run(job=ExportJob.objects.get(pk=job_id))


# Expired download links are also refused (410) when followed; this frees their space.
@app.periodic(cron="*/15 * * * *", periodic_id="records.export_expire")
@app.task(queue="exports", name="records.export_expire")
def export_expire_job(timestamp: int) -> None:
    """Delete the files of exports whose download link has expired."""
    exports.export_jobs_expire()


@app.periodic(cron="17 * * * *", periodic_id="records.import_staging_expire")
@app.task(queue="imports", name="records.import_staging_expire")
def import_staging_expire_job(timestamp: int) -> None:
    """Drop the staged rows kept for imports that were discarded, stopped or left unapplied."""
    imports.import_staging_expire()


@app.periodic(cron="*/10 * * * *", periodic_id="records.facet_counts_compact")
@app.task(queue="maintenance", name="records.facet_counts_compact")
def facet_counts_compact_job(timestamp: int) -> None:
    """Fold the facet count rows that writes added into one per value."""
    register.facet_counts_compact()
