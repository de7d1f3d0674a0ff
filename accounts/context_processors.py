"""Template context shared by every full page."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.access import user_memberships


def organisations(request: HttpRequest) -> dict:
    """The organisations the user can switch between, fetched only if a template asks."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    known = getattr(request, "memberships", None)  # found by the organisation gate
    if known is not None:
        return {"my_memberships": known}
    return {"my_memberships": SimpleLazyObject(lambda: user_memberships(user))}
