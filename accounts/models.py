"""Organisations (the clients), people, and who may do what in which organisation."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower


class Role(models.IntegerChoices):
    """What a member may do; each role includes the ones below it."""

    VIEWER = 10, "Viewer"
    EDITOR = 20, "Editor"
    MANAGER = 30, "Manager"


class User(AbstractUser):
    """A person. Email addresses are unique (case-insensitively) so people can log in with one."""

    objects = UserManager()

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="accounts_user_email_unique",
                violation_error_message="Someone already uses this email address.",
            )
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class Organisation(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=50, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MembershipQuerySet(models.QuerySet):
    def managers(self) -> MembershipQuerySet:
        return self.filter(role=Role.MANAGER)


class Membership(models.Model):
    """A user's role in one organisation."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.PositiveSmallIntegerField(choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["organisation__name", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "user"], name="accounts_membership_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} of {self.organisation}"

    def has_role(self, role: Role) -> bool:
        return self.role >= role

    @property
    def can_edit(self) -> bool:
        return self.has_role(Role.EDITOR)

    @property
    def can_manage(self) -> bool:
        return self.has_role(Role.MANAGER)
