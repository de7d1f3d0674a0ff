"""What the browser journeys share: the demo register and logging in as one of its people."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import Page

DEMO_PASSWORD = "e2e-demo-password"


@pytest.fixture
def demo(transactional_db):
    """The demo organisation (600 records) with its viewer, editor, manager and admin."""
    call_command("seed_demo", "--rows", "600", "--password", DEMO_PASSWORD, verbosity=0)


@pytest.fixture
def log_in(live_server):
    """Log a page in as one of the demo people."""

    def log_in(page: Page, username: str) -> None:
        page.goto(live_server.url + "/")
        page.get_by_label("Username or email").fill(username)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()

    return log_in
