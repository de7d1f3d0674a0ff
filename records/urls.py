"""URLs under /o/<org_slug>/ for the register; every view is behind accounts.access."""

from __future__ import annotations

from django.urls import path

from records.views import browse, export

app_name = "records"

urlpatterns = [
    path("", browse.organisation_home, name="home"),
    path("records/", browse.record_list, name="list"),
    path("records/facets/", browse.record_facets, name="facets"),
    path("records/<int:pk>/", browse.record_detail, name="detail"),
    path("records/export.csv", export.record_export_csv, name="export_csv"),
    path("records/export.xlsx", export.record_export_xlsx, name="export_xlsx"),
    path("exports/<int:pk>/", export.export_job, name="export_job"),
    path("exports/<int:pk>/download/", export.export_download, name="export_download"),
]
