"""URLs under /o/<org_slug>/ for the register; every view is behind accounts.access."""

from __future__ import annotations

from django.urls import path

from records.views import browse

app_name = "records"

urlpatterns = [
    path("", browse.organisation_home, name="home"),
    path("records/", browse.record_list, name="list"),
    path("records/facets/", browse.record_facets, name="facets"),
    path("records/<int:pk>/", browse.record_detail, name="detail"),
]
