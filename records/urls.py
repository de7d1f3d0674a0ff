"""URLs under /o/<org_slug>/ for the register; every view is behind accounts.access."""

from __future__ import annotations

from django.urls import path

from records.views import browse, edit, history

app_name = "records"

urlpatterns = [
    path("", browse.organisation_home, name="home"),
    path("records/", browse.record_list, name="list"),
    path("records/facets/", browse.record_facets, name="facets"),
    path("records/new/", edit.record_create, name="create"),
    path("records/bulk-edit/", edit.records_bulk_edit, name="bulk_edit"),
    path("records/deleted/", edit.record_deleted_list, name="deleted"),
    path("records/<int:pk>/", browse.record_detail, name="detail"),
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
]
