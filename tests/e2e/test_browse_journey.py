"""A viewer browses the demo register in a real browser (Chromium, headless)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from records.models import Record

pytestmark = pytest.mark.e2e


def table_references(page: Page) -> list[str]:
    return page.locator("#records-table tbody tr td:first-child a").all_inner_texts()


def test_a_viewer_searches_filters_sorts_pages_opens_a_record_and_comes_back(
    page: Page, live_server, demo, log_in
):
    log_in(page, "viewer")
    expect(page).to_have_url(re.compile(r"/o/demo/records/$"))
    expect(page.get_by_role("heading", name="Records")).to_be_visible()
    # The facets arrive after the table.
    expect(page.locator(".facets")).to_contain_text("Registered")

    # Search: the table updates in place and the URL follows.
    page.get_by_label("Search").fill("the")
    expect(page).to_have_url(re.compile(r"\?q=the"))
    expected = Record.objects.filter(organisation__slug="demo", name__iregex=r"\mthe")
    expect(page.locator(".results-bar .count")).to_have_text(f"{expected.count()} records")

    # Filter by status.
    page.get_by_label("Status").select_option("registered")
    expect(page).to_have_url(re.compile(r"status=registered"))
    expected = expected.filter(status="registered")
    expect(page.locator(".results-bar .count")).to_have_text(f"{expected.count()} records")

    # Sort by income, largest first (click the header twice).
    page.locator("thead").get_by_role("link", name="Income").click()
    expect(page).to_have_url(re.compile(r"sort=income"))
    page.locator("thead").get_by_role("link", name="Income").click()
    expect(page).to_have_url(re.compile(r"sort=-income"))
    by_income = list(expected.order_by("-income", "-id").values_list("reference", flat=True))
    expect(page.locator("#records-table tbody tr").first).to_contain_text(by_income[0])

    # Page 2.
    page.get_by_role("link", name="Next ›").click()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(page.locator("#records-table tbody tr").first).to_contain_text(by_income[25])
    shown = table_references(page)
    assert shown == by_income[25:50]
    view_url = page.url

    # Open a record, then come back to exactly the same view.
    page.get_by_role("link", name=shown[3]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        Record.objects.get(reference=shown[3]).name
    )
    page.go_back()
    expect(page).to_have_url(view_url)
    expect(page.get_by_label("Search")).to_have_value("the")
    expect(page.get_by_label("Status")).to_have_value("registered")
    expect(page.locator("#records-table tbody tr").first).to_contain_text(by_income[25])
    assert table_references(page) == shown

    # A full load of the same URL renders the same view (it is a bookmarkable link).
    page.goto(view_url)
    assert table_references(page) == shown
