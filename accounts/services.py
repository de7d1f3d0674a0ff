"""Membership changes, with the rule that an organisation always keeps a manager."""

from __future__ import annotations

import logging

from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import Membership, Organisation, Role, User

log = logging.getLogger(__name__)

LAST_MANAGER = "An organisation needs at least one manager: make someone else a manager first."


def _lock_managers(organisation: Organisation) -> list[int]:
    """Lock the organisation's manager memberships and return their ids.

    Two managers demoting each other at the same moment must not both succeed.
    """
    return list(
        Membership.objects.select_for_update()
        .filter(organisation=organisation, role=Role.MANAGER)
        .values_list("pk", flat=True)
    )


def member_add(
    *, organisation: Organisation, email: str, role: Role, by: User, base_url: str
) -> tuple[Membership, bool]:
    """Add the person with this email (creating their account if new); email them a link.

    Returns the membership and whether the account is new. A new account has no
    password: the email carries a link to set one.
    """
    email = User.objects.normalize_email(email.strip())
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        created = user is None
        if created:
            user = User(username=email.lower(), email=email)
            user.set_unusable_password()
            user.save()
        membership, added = Membership.objects.get_or_create(
            user=user, organisation=organisation, defaults={"role": role}
        )
        if not added:
            raise ValidationError(f"{email} is already a member of {organisation}.")
    _send_welcome(user=user, organisation=organisation, by=by, base_url=base_url, new=created)
    log.info("%s added %s to %s as %s", by, email, organisation.slug, role.label)
    return membership, created


def _send_welcome(*, user: User, organisation: Organisation, by: User, base_url: str, new: bool):
    context = {
        "user": user,
        "organisation": organisation,
        "by": by,
        "organisation_url": base_url
        + reverse("records:list", kwargs={"org_slug": organisation.slug}),
    }
    if new:
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        context["set_password_url"] = base_url + reverse(
            "accounts:password_reset_confirm", kwargs={"uidb64": uid, "token": token}
        )
    send_mail(
        subject=f"You have been added to {organisation} on Records Desk",
        message=render_to_string("accounts/email/member_added.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )


def member_set_role(*, membership: Membership, role: Role, by: User) -> Membership:
    """Change a member's role; the last manager cannot be demoted."""
    with transaction.atomic():
        managers = _lock_managers(membership.organisation)
        membership.refresh_from_db(fields=["role"])
        if membership.role == Role.MANAGER and role != Role.MANAGER and managers == [membership.pk]:
            raise ValidationError(LAST_MANAGER)
        membership.role = role
        membership.save(update_fields=["role"])
    log.info("%s made %s a %s of %s", by, membership.user, role.label, membership.organisation.slug)
    return membership


def member_remove(*, membership: Membership, by: User) -> None:
    """Remove a member; the last manager cannot be removed."""
    with transaction.atomic():
        managers = _lock_managers(membership.organisation)
        if managers == [membership.pk]:
            raise ValidationError(LAST_MANAGER)
        membership.delete()
    log.info("%s removed %s from %s", by, membership.user, membership.organisation.slug)
