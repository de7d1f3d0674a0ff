"""Shared fixtures: two organisations and the people in them.

alice   manager of Acme        charlie  editor of Beacon
bob     editor of Acme         nora     belongs to no organisation
vera    viewer of Acme         sam      superuser (the data team)
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from django.db import connection
from django.test import Client

from accounts.models import Membership, Organisation, Role, User
from records.models import Record
from records.services.seed import records_seed

# pytest-playwright runs an event loop; Django refuses sync ORM calls under one unless told.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct horse battery staple"


@pytest.fixture
def password() -> str:
    """Everyone's password in the tests."""
    return PASSWORD


@pytest.fixture
def acme(db) -> Organisation:
    return Organisation.objects.create(name="Acme Charities", slug="acme")


@pytest.fixture
def beacon(db) -> Organisation:
    return Organisation.objects.create(name="Beacon Foundation", slug="beacon")


def _person(
    username: str, organisation: Organisation | None = None, role: Role | None = None, **extra
) -> User:
    user = User.objects.create_user(
        username=username,
        email=f"{username}@example.com",
        password=PASSWORD,
        first_name=username.title(),
        **extra,
    )
    if organisation is not None:
        Membership.objects.create(user=user, organisation=organisation, role=role)
    return user


@pytest.fixture
def alice(acme) -> User:
    return _person("alice", acme, Role.MANAGER)


@pytest.fixture
def bob(acme) -> User:
    return _person("bob", acme, Role.EDITOR)


@pytest.fixture
def vera(acme) -> User:
    return _person("vera", acme, Role.VIEWER)


@pytest.fixture
def charlie(beacon) -> User:
    return _person("charlie", beacon, Role.EDITOR)


@pytest.fixture
def nora(db) -> User:
    return _person("nora")


@pytest.fixture
def sam(db) -> User:
    return _person("sam", is_staff=True, is_superuser=True)


@pytest.fixture
def client_for(db):
    """Return a test client logged in as the given user."""

    def login(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return login


@pytest.fixture
def make_records(db):
    """Add records to an organisation through the bulk loader; return them in order."""

    def make(organisation: Organisation, *rows: dict, by: User | None = None) -> list[Record]:
        defaults = {
            "name": "A Charity",
            "status": "registered",
            "category": "",
            "region": "",
            "postcode": "",
            "income": None,
            "registered_on": None,
            "website": "",
            "extra": {},
        }
        full = []
        for index, row in enumerate(rows):
            reference = row.get("reference") or f"REF-{organisation.slug}-{index:05d}"
            full.append({**defaults, **row, "reference": reference})
        records_seed(organisation=organisation, rows=full, by=by, reason="Test data")
        references = [row["reference"] for row in full]
        found = {
            r.reference: r
            for r in Record.objects.filter(organisation=organisation, reference__in=references)
        }
        return [found[reference] for reference in references]

    return make


@pytest.fixture
def run_jobs(db):
    """Run the background jobs queued so far, here and now, in this test's transaction.

    Views defer jobs on the request's own connection (procrastinate's Django connector),
    so in a test they sit uncommitted in procrastinate_jobs; this runs each one's task
    once, in order. Returns how many it ran.
    """
    from procrastinate.contrib.django import app  # noqa: PLC0415 - needs the app registry

    done: set[int] = set()

    def run() -> int:
        ran = 0
        while True:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id, task_name, args FROM procrastinate_jobs "
                    "WHERE status = 'todo' ORDER BY id"
                )
                pending = [job for job in cursor.fetchall() if job[0] not in done]
            if not pending:
                return ran
            for job_id, task_name, args in pending:
                done.add(job_id)
                # Django's connection hands jsonb back as text.
                app.tasks[task_name](**(json.loads(args) if isinstance(args, str) else args))
                ran += 1

    return run


# -- Playwright -----------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Launch the system Chromium when there is one (scripts/browser.py finds or installs it)."""
    executable = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    args = {**browser_type_launch_args, "args": CHROMIUM_ARGS}
    if executable:
        args["executable_path"] = executable
    return args
