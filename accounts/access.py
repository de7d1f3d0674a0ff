"""The one gate for everything under /o/<org-slug>/.

`organisation_view(role)` resolves the organisation in the URL and the user's membership
of it. An anonymous user is sent to log in, a non-member gets 404 (whether or not the
organisation exists: its existence is not theirs to know), a member below `role` gets
403. The view then finds `request.organisation` and `request.membership`, and every
query it makes is scoped by them. Superusers (the data team) are managers everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django_htmx.http import HttpResponseClientRedirect

from accounts.models import Membership, Organisation, Role

View = Callable[..., HttpResponse]


def user_memberships(user) -> list[Membership]:
    """Return the memberships a user can switch between (superusers: every organisation)."""
    if user.is_superuser:
        return [
            Membership(user=user, organisation=organisation, role=Role.MANAGER)
            for organisation in Organisation.objects.order_by("name")
        ]
    return list(
        Membership.objects.filter(user=user)
        .select_related("organisation")
        .order_by("organisation__name")
    )


def resolve_membership(user, org_slug: str, *, among: list[Membership] | None = None) -> Membership:
    """Return the user's membership of the organisation with this slug, or raise Http404.

    `among`: the user's memberships (user_memberships), if they are at hand.
    """
    if user.is_superuser:
        organisation = Organisation.objects.filter(slug=org_slug).first()
        if organisation is None:
            raise Http404("No such organisation.")
        return Membership(user=user, organisation=organisation, role=Role.MANAGER)
    if among is not None:
        membership = next((m for m in among if m.organisation.slug == org_slug), None)
    else:
        membership = (
            Membership.objects.select_related("organisation")
            .filter(user=user, organisation__slug=org_slug)
            .first()
        )
    if membership is None:
        raise Http404("No such organisation.")
    return membership


def organisation_view(role: Role = Role.VIEWER) -> Callable[[View], View]:
    """Decorate a view under /o/<org_slug>/ that needs at least `role`."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, org_slug: str, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                if getattr(request, "htmx", False):
                    # A fragment request after the session expired: reload as a page.
                    return HttpResponseClientRedirect(request.htmx.current_url or "/")
                return redirect_to_login(request.get_full_path())
            # A member's memberships are few: one query finds this one and gives the
            # page's organisation switcher (accounts.context_processors) the rest.
            # The data team's switcher lists every organisation, fetched if a page shows it.
            memberships = None if request.user.is_superuser else user_memberships(request.user)
            membership = resolve_membership(request.user, org_slug, among=memberships)
            if not membership.has_role(role):
                raise PermissionDenied(f"This needs the {role.label.lower()} role.")
            request.organisation = membership.organisation
            request.membership = membership
            if memberships is not None:
                request.memberships = memberships
            return view(request, *args, **kwargs)

        wrapper.required_role = role  # type: ignore[attr-defined]
        return wrapper

    return decorator
