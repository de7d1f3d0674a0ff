"""Editors amend and managers review, in a real browser (Chromium, headless)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from accounts.models import User
from records.models import Record
from records.services.amend import record_amend

pytestmark = pytest.mark.e2e

History = Record.history.model


def first_row(page: Page):
    return page.locator("#records-table tbody tr").first


def test_an_editor_edits_a_row_inline_with_a_reason_and_sees_it_in_the_timeline(
    page: Page, live_server, demo, log_in
):
    log_in(page, "editor")
    row = first_row(page)
    reference = row.locator("td.col-reference").inner_text()
    record = Record.objects.get(reference=reference)

    row.get_by_role("link", name="Edit").click()
    editing = page.locator(f"#record-{record.pk}.is-editing")
    expect(editing.get_by_label("Name")).to_have_value(record.name)

    # A reason is required: the row says so beside the field and keeps the input.
    editing.get_by_label("Name").fill("Renamed Inline Trust")
    editing.get_by_role("button", name="Save").click()
    expect(editing.locator(".field-error")).to_contain_text("Give a reason")
    expect(editing.get_by_label("Name")).to_have_value("Renamed Inline Trust")

    editing.get_by_label("Reason").fill("Name on their letterhead")
    editing.get_by_role("button", name="Save").click()
    saved = page.locator(f"#record-{record.pk}")
    expect(saved).not_to_have_class(re.compile("is-editing"))
    expect(saved).to_contain_text("Renamed Inline Trust")
    expect(saved.locator(".flag-amended")).to_be_visible()
    expect(page.locator(".messages")).to_contain_text(f"Saved {reference}.")

    saved.get_by_role("link", name="Renamed Inline Trust").click()
    expect(page.locator("#field-name")).to_contain_text(f"source: {record.name}")
    page.get_by_role("link", name="History").click()
    latest = page.locator(".timeline-entry").first
    expect(latest).to_contain_text("Eddie Editor")
    expect(latest).to_contain_text("Web")
    expect(latest).to_contain_text("Name on their letterhead")
    expect(latest.locator(".diff-old")).to_have_text(record.name)
    expect(latest.locator(".diff-new")).to_have_text("Renamed Inline Trust")


def test_the_second_of_two_editors_is_refused_and_the_first_edit_is_kept(
    browser: Browser, live_server, demo, log_in
):
    record = Record.objects.filter(organisation__slug="demo").order_by("name").first()
    edit_url = f"{live_server.url}/o/demo/records/{record.pk}/edit/"
    first, second = browser.new_context(), browser.new_context()
    try:
        eddie, mandy = first.new_page(), second.new_page()
        log_in(eddie, "editor")
        log_in(mandy, "manager")
        # Both open the same record at the same version.
        eddie.goto(edit_url)
        mandy.goto(edit_url)

        eddie.get_by_label("Name").fill("Eddie's Name")
        eddie.get_by_label("Reason").fill("Eddie's reason")
        eddie.get_by_role("button", name="Save changes").click()
        expect(eddie.get_by_role("heading", level=1)).to_have_text("Eddie's Name")

        mandy.get_by_label("Region").fill("Mandy's Region")
        mandy.get_by_label("Reason").fill("Mandy's reason")
        mandy.get_by_role("button", name="Save changes").click()
        refusal = mandy.locator(".stale")
        expect(refusal).to_contain_text("Not saved: this record changed since you opened it.")
        expect(refusal).to_contain_text("Eddie Editor")
        expect(refusal).to_contain_text("Eddie's reason")
        # Her input is kept, on top of the newer version: Eddie's name, her region.
        expect(mandy.get_by_label("Region")).to_have_value("Mandy's Region")
        expect(mandy.get_by_label("Name")).to_have_value("Eddie's Name")

        record.refresh_from_db()
        assert (record.name, record.version) == ("Eddie's Name", 2)
        assert record.region != "Mandy's Region"

        # Seeing what changed, she saves again: both edits stand.
        mandy.get_by_role("button", name="Save changes").click()
        expect(mandy.get_by_role("heading", level=1)).to_have_text("Eddie's Name")
        record.refresh_from_db()
        assert (record.name, record.region, record.version) == (
            "Eddie's Name",
            "Mandy's Region",
            3,
        )
    finally:
        first.close()
        second.close()


def test_a_manager_filters_the_changes_and_undoes_one(page: Page, live_server, demo, log_in):
    eddie = User.objects.get(username="editor")
    target, other = Record.objects.filter(organisation__slug="demo").order_by("name")[:2]
    source_postcode = target.postcode
    record_amend(
        record=target,
        values={"postcode": "ZZ1 1ZZ"},
        reason="Wrong guess",
        by=eddie,
        version=1,
    )
    record_amend(
        record=other, values={"name": "Kept As It Is"}, reason="Right", by=eddie, version=1
    )

    log_in(page, "manager")
    page.get_by_role("link", name="Changes").click()
    expect(page.locator("#changes-chart")).to_contain_text("Web")
    page.get_by_label("Who").select_option(label="Eddie Editor")
    expect(page).to_have_url(re.compile(r"user="))
    expect(page.locator("#changes-table tbody tr")).to_have_count(2)
    page.get_by_label("Field changed").select_option("postcode")
    expect(page).to_have_url(re.compile(r"field=postcode"))
    rows = page.locator("#changes-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(target.reference)
    expect(rows.first).to_contain_text("Wrong guess")

    rows.first.get_by_role("link", name=re.compile("Undo change")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        f"Undo a change to {target.reference}"
    )
    page.get_by_label("Reason").fill("The old postcode was right")
    page.get_by_role("button", name="Undo").click()

    expect(page.locator(".messages")).to_contain_text("Undid the change")
    latest = page.locator(".timeline-entry").first
    expect(latest).to_contain_text("Mandy Manager")
    expect(latest).to_contain_text("The old postcode was right")
    target.refresh_from_db()
    other.refresh_from_db()
    assert target.postcode == source_postcode
    assert "postcode" not in target.amendments  # back at its source value
    assert other.name == "Kept As It Is"
    # Nothing erased: the wrong guess and its undoing are both in the history.
    assert History.objects.filter(id=target.pk).count() == 3
