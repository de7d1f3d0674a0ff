"""URLs under /o/<org_slug>/ for the register; every view is behind accounts.access."""

from __future__ import annotations

from django.urls import path

from records.views import browse, conflicts, edit, export, history, imports

app_name = "records"

urlpatterns = [
    path("", browse.organisation_home, name="home"),
    path("records/", browse.record_list, name="list"),
    path("records/facets/", browse.record_facets, name="facets"),
    path("records/new/", edit.record_create, name="create"),
    path("records/bulk-edit/", edit.records_bulk_edit, name="bulk_edit"),
    path("records/deleted/", edit.record_deleted_list, name="deleted"),
    path("records/<int:pk>/", browse.record_detail, name="detail"),
    path("imports/", imports.import_list, name="import_list"),
    path("imports/new/", imports.import_new, name="import_new"),
    path("imports/<int:pk>/", imports.import_detail, name="import_detail"),
    path("imports/<int:pk>/columns/", imports.import_columns, name="import_columns"),
    path("imports/<int:pk>/apply/", imports.import_apply, name="import_apply"),
    path("imports/<int:pk>/retry/", imports.import_retry, name="import_retry"),
    path("imports/<int:pk>/discard/", imports.import_discard, name="import_discard"),
    path("imports/<int:pk>/file/", imports.import_file, name="import_file"),
    path("imports/<int:pk>/errors.csv", imports.import_errors, name="import_errors"),
    path("conflicts/", conflicts.conflict_list, name="conflicts"),
    path("conflicts/resolve/", conflicts.conflict_resolve, name="conflict_resolve"),
    path("records/<int:pk>/edit/", edit.record_edit, name="edit"),
    path("records/<int:pk>/delete/", edit.record_delete, name="delete"),
    path("records/<int:pk>/restore/", edit.record_restore, name="restore"),
    path(
        "records/<int:pk>/fields/<slug:field>/revert/",
        edit.record_revert_source,
        name="revert_source",
    ),
    path("records/<int:pk>/history/", history.record_history, name="history"),
    path(
        "records/<int:pk>/history/<int:history_id>/revert/",
        history.record_revert,
        name="revert",
    ),
    path("records/<int:pk>/history/<int:history_id>/undo/", history.record_undo, name="undo"),
    path("changes/", history.change_list, name="changes"),
    path("changes/chart/", history.change_chart, name="changes_chart"),
    path("changes/export/", history.change_export, name="changes_export"),
    path("records/export.csv", export.record_export_csv, name="export_csv"),
    path("records/export.xlsx", export.record_export_xlsx, name="export_xlsx"),
    path("exports/<int:pk>/", export.export_job, name="export_job"),
    path("exports/<int:pk>/download/", export.export_download, name="export_download"),
]
