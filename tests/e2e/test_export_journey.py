"""A viewer downloads what they are looking at: CSV at once, a large XLSX through a worker."""

from __future__ import annotations

import codecs
import csv
import io
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect
from python_calamine import CalamineWorkbook

from records.models import Record

pytestmark = pytest.mark.e2e

PASSWORD = "e2e-export-password"


@pytest.fixture
def demo_register(transactional_db):
    call_command("seed_demo", "--rows", "600", "--password", PASSWORD, verbosity=0)


def sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(base_url + "/")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Records")).to_be_visible()


def table_references(page: Page) -> list[str]:
    return page.locator("#records-table tbody tr td:first-child a").all_inner_texts()


def test_a_viewer_downloads_the_filtered_sorted_view_as_csv_and_xlsx(
    page: Page, live_server, demo_register
):
    sign_in(page, live_server.url, "viewer")
    # Narrow and sort the view in place (htmx), as a person would.
    page.get_by_label("Search").fill("the")
    expect(page).to_have_url(re.compile(r"\?q=the"))
    page.get_by_label("Status").select_option("registered")
    expect(page).to_have_url(re.compile(r"status=registered"))
    page.locator("thead").get_by_role("link", name="Income").click()
    expect(page).to_have_url(re.compile(r"sort=income"))
    page.locator("thead").get_by_role("link", name="Income").click()
    expect(page).to_have_url(re.compile(r"sort=-income"))
    expected = list(
        Record.objects.filter(organisation__slug="demo", name__iregex=r"\mthe", status="registered")
        .order_by("-income", "-id")
        .values_list("reference", flat=True)
    )
    expect(page.locator("#records-table tbody tr").first).to_contain_text(expected[0])
    shown = table_references(page)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert re.fullmatch(
        r"demo-records-q-the_status-registered-\d{8}-\d{4}\.csv", download.suggested_filename
    )
    content = download.path().read_bytes()
    assert content.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["reference", "name", "status"]
    references = [row[0] for row in rows[1:]]
    assert references == expected  # every match, not only the page shown
    assert references[: len(shown)] == shown

    # The same view as XLSX: few enough rows (EXPORT_XLSX_INLINE_MAX_ROWS) to come at once.
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download XLSX").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    sheet = CalamineWorkbook.from_path(download.path()).get_sheet_by_index(0).to_python()
    assert [row[0] for row in sheet[1:]] == expected


def test_a_large_xlsx_export_shows_its_progress_then_a_link(
    page: Page, live_server, demo_register, settings, start_worker
):
    settings.EXPORT_XLSX_INLINE_MAX_ROWS = 100
    sign_in(page, live_server.url, "viewer")
    page.get_by_role("button", name="Download XLSX").click()

    # Too many rows to build during the request: a job, and its page.
    expect(page.get_by_role("heading", name="Spreadsheet export")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/o/demo/exports/\d+/$"))
    expect(page.get_by_role("progressbar", name="Export progress")).to_be_visible()
    expect(page.locator("#export-job")).to_contain_text("Waiting for a worker")

    # A worker picks it up; the page, polling, turns into a link.
    start_worker()
    link = page.get_by_role("link", name="Download XLSX")
    expect(link).to_be_visible(timeout=30_000)
    expect(page.locator("#export-job")).to_contain_text("600 records")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert re.fullmatch(r"demo-records-all-\d{8}-\d{4}\.xlsx", download.suggested_filename)
    sheet = CalamineWorkbook.from_path(download.path()).get_sheet_by_index(0).to_python()
    expected = Record.objects.filter(organisation__slug="demo").order_by("name", "id")
    assert [row[0] for row in sheet[1:]] == list(expected.values_list("reference", flat=True))
