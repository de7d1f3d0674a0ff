"""URLs under /o/<org_slug>/ for the register; every view is behind accounts.access."""

from __future__ import annotations

from django.urls import path

from records import views

app_name = "records"

urlpatterns = [
    path("", views.organisation_home, name="home"),
    path("records/", views.record_list, name="list"),
    path("records/facets/", views.record_facets, name="facets"),
    path("records/<int:pk>/", views.record_detail, name="detail"),
]
