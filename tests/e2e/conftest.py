"""What the browser journeys share: the demo register, logging in as one of its people,
and a real background worker for the jobs their clicks queue."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
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


def _database_url() -> str:
    """The URL the suite was given (as settings read it), naming the test database instead.

    Everything else (user, password, host, port, a socket directory in ?host=, options)
    stays as configured, so the worker reaches the same server as the live server.
    """
    running = Path(settings.BASE_DIR) / ".data" / "database_url"
    url = os.environ.get("DATABASE_URL") or running.read_text().strip()
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(connection.settings_dict["NAME"])))


@pytest.fixture
def start_worker(live_server, transactional_db):
    """Return a function that starts `manage.py procrastinate worker` on the test database.

    The worker is a process of its own, as in production, reading the jobs that the live
    server's requests queue (transactional_db: they are committed). Call it when the
    journey wants jobs to run; it is stopped at teardown, before the database is flushed.
    Its output is printed if the test fails (pytest shows captured output then).
    """
    started: list[tuple[subprocess.Popen, object]] = []

    def start(*, queues: str = "") -> subprocess.Popen:
        log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed at teardown
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "DJANGO_SETTINGS_MODULE": "site_config.test_settings",
        }
        process = subprocess.Popen(
            [sys.executable, "manage.py", "procrastinate", "worker", "--queues", queues],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append((process, log))
        return process

    yield start

    for process, log in started:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.seek(0)
        print(f"--- worker {process.pid} (exit {process.returncode}) ---\n{log.read()}")
        log.close()
