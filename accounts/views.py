"""Landing page and members management."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import services
from accounts.access import organisation_view, user_memberships
from accounts.forms import MemberAddForm, MemberRoleForm
from accounts.models import Membership, Role
from site_config.htmx import render_page


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Send people to their organisation, or let them choose one."""
    memberships = user_memberships(request.user)
    if len(memberships) == 1:
        return redirect("records:list", org_slug=memberships[0].organisation.slug)
    return render(request, "accounts/home.html", {"memberships": memberships})


def _members_context(request: HttpRequest, **extra) -> dict:
    members = (
        Membership.objects.filter(organisation=request.organisation)
        .select_related("user")
        .order_by("-role", "user__username")
    )
    return {"members": members, "roles": Role.choices, "add_form": MemberAddForm(), **extra}


@organisation_view(Role.MANAGER)
@require_http_methods(["GET", "POST"])
def member_list(request: HttpRequest) -> HttpResponse:
    """List the organisation's members and add one by email."""
    if request.method == "POST":
        form = MemberAddForm(request.POST)
        if form.is_valid():
            try:
                _, created = services.member_add(
                    organisation=request.organisation,
                    email=form.cleaned_data["email"],
                    role=Role(form.cleaned_data["role"]),
                    by=request.user,
                    base_url=request.build_absolute_uri("/").rstrip("/"),
                )
            except ValidationError as error:
                form.add_error("email", error)
            else:
                email = form.cleaned_data["email"]
                messages.success(
                    request,
                    f"Added {email}; we emailed them a link to set their password."
                    if created
                    else f"Added {email}; we emailed them to say so.",
                )
                return redirect("members:list", org_slug=request.organisation.slug)
        return render_page(
            request,
            "accounts/members.html",
            _members_context(request, add_form=form),
            fragments={"member-add": "accounts/partials/member_add.html"},
            status=422,
        )
    return render_page(request, "accounts/members.html", _members_context(request))


@organisation_view(Role.MANAGER)
@require_POST
def member_role(request: HttpRequest, pk: int) -> HttpResponse:
    membership = get_object_or_404(Membership, organisation=request.organisation, pk=pk)
    form = MemberRoleForm(request.POST)
    error = None
    if form.is_valid():
        try:
            services.member_set_role(
                membership=membership, role=Role(form.cleaned_data["role"]), by=request.user
            )
        except ValidationError as exc:
            error = exc.messages[0]
    else:
        error = "Choose a role."
    membership.refresh_from_db()
    if error and not request.htmx:
        messages.error(request, error)
    context = {"member": membership, "roles": Role.choices, "error": error}
    if request.htmx:
        return render(request, "accounts/partials/member_row.html", context)
    if not error:
        messages.success(
            request, f"{membership.user} is now a {membership.get_role_display().lower()}."
        )
    return redirect("members:list", org_slug=request.organisation.slug)


@organisation_view(Role.MANAGER)
@require_POST
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    membership = get_object_or_404(Membership, organisation=request.organisation, pk=pk)
    try:
        services.member_remove(membership=membership, by=request.user)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, f"Removed {membership.user} from {request.organisation}.")
    return redirect("members:list", org_slug=request.organisation.slug)
