"""manage.py seed_demo: a demo organisation, one user per role, and plausible records."""

from __future__ import annotations

import os
import secrets
import sys
import time

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from accounts.models import Membership, Organisation, Role, User
from records.demo import EXTRA_COLUMNS, demo_rows
from records.services.seed import records_seed

DEMO_USERS = (
    ("viewer", Role.VIEWER, "Vera", "Viewer"),
    ("editor", Role.EDITOR, "Eddie", "Editor"),
    ("manager", Role.MANAGER, "Mandy", "Manager"),
)


class Command(BaseCommand):
    help = (
        "Create (or top up) a demo organisation with users viewer, editor and manager, a "
        "superuser admin, and N plausible charity-register records. Safe to run twice. "
        "The password is $DEMO_PASSWORD, --password, or generated and printed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rows", type=int, default=1000, help="Records to have (default 1000)."
        )
        parser.add_argument("--org", default="demo", help="Organisation slug (default: demo).")
        parser.add_argument("--name", help="Organisation name (default: from the slug).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument("--password", help="Password for the demo users.")

    def handle(
        self,
        *args,
        rows: int,
        org: str,
        name: str | None,
        seed: int,
        password: str | None,
        **options,
    ) -> None:
        password = password or os.environ.get("DEMO_PASSWORD") or None
        with transaction.atomic():
            organisation, _ = Organisation.objects.get_or_create(
                slug=org, defaults={"name": name or f"{org.replace('-', ' ').title()} Register"}
            )
            password, users = self._users(organisation, password)

        started = time.monotonic()
        admin = users["admin"]
        added = records_seed(
            organisation=organisation,
            rows=demo_rows(rows, seed=seed),
            by=admin,
            reason="Demo data loaded by seed_demo",
            extra_columns=EXTRA_COLUMNS,
            progress=self._progress(rows),
        )
        if rows >= 10_000:
            sys.stderr.write("\n")
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"Organisation “{organisation.name}” (/o/{organisation.slug}/): {added:,} records "
            f"added in {elapsed:.1f}s."
        )
        self.stdout.write(
            "Demo users: "
            + ", ".join(users)
            + " — password: "
            + (password if password else "(unchanged)")
        )

    def _users(self, organisation: Organisation, password: str | None):
        """Create the demo users (or set their password) and their memberships."""
        existing = User.objects.filter(username__in=[u[0] for u in DEMO_USERS] + ["admin"])
        if password is None and existing.count() < len(DEMO_USERS) + 1:
            password = secrets.token_urlsafe(9)
        users = {}
        for username, role, first, last in DEMO_USERS:
            user, _ = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@example.com",
                },
            )
            Membership.objects.update_or_create(
                user=user, organisation=organisation, defaults={"role": role}
            )
            users[username] = user
        admin, _ = User.objects.get_or_create(
            username="admin",
            defaults={
                "first_name": "Ada",
                "last_name": "Admin",
                "email": "admin@example.com",
                "is_staff": True,
                "is_superuser": True,
            },
        )
        users["admin"] = admin
        if password:
            for user in users.values():
                user.set_password(password)
                user.save(update_fields=["password"])
        return password, users

    def _progress(self, total: int):
        if total < 10_000:
            return None

        def report(done: int) -> None:
            width = 30
            filled = int(width * done / total)
            sys.stderr.write(
                f"\r  loading [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}"
            )
            sys.stderr.flush()

        return report
