from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from accounts.urls import member_urlpatterns

# Everything under /o/<org_slug>/ belongs to one organisation; each view resolves it
# through accounts.access.organisation_view (tests/integration/test_access.py checks
# every pattern here).
organisation_patterns = [
    path("", include("records.urls")),
    path("members/", include((member_urlpatterns, "members"))),
]

urlpatterns = [
    path("", include("accounts.urls")),
    path("o/<slug:org_slug>/", include(organisation_patterns)),
    path("admin/", admin.site.urls),
]
