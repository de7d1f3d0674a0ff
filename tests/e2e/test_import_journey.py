"""An editor downloads the register, changes it in a spreadsheet and imports it back."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from records.models import Conflict, ImportRun, Record
from records.services.amend import record_amend

pytestmark = pytest.mark.e2e


def test_an_editor_exports_changes_and_imports_a_register_and_resolves_its_conflict(
    page: Page, live_server, demo, log_in, start_worker, tmp_path
):
    # Someone corrected a name by hand earlier: an amendment the import must not lose.
    editor = User.objects.get(username="editor")
    amended = Record.objects.filter(organisation__slug="demo").order_by("reference")[5]
    record_amend(
        record=amended,
        values={"name": "Hand-corrected name"},
        reason="The charity told us",
        by=editor,
        version=amended.version,
    )

    log_in(page, "editor")
    expect(page).to_have_url(re.compile(r"/o/demo/records/$"))

    # 1. Download the register as CSV.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    exported = download.value.path().read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert len(rows) == 600

    # 2. Change it as the source would: three names, one of them the amended record's.
    changed = {rows[0]["reference"], rows[1]["reference"], amended.reference}
    for row in rows:
        if row["reference"] in changed:
            row["name"] = row["name"] + " (renamed at source)"
    upload = tmp_path / "register-from-source.csv"
    with upload.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    # 3. Upload it: the check waits for a worker, with its progress shown live.
    page.get_by_role("link", name="Imports").click()
    page.get_by_role("link", name="Upload a spreadsheet").first.click()
    page.get_by_label("Spreadsheet").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and check").click()
    expect(page.get_by_role("heading", name="Checking the file")).to_be_visible()
    expect(page.get_by_role("progressbar")).to_be_visible()
    start_worker()
    # The progress panel polls, and reloads the page when the check is done.
    expect(page.get_by_role("heading", name="What the import would do")).to_be_visible(
        timeout=30_000
    )

    # 4. The preview: two changed, one conflicting (the amended name), the rest unchanged.
    cards = page.locator(".count-cards")
    expect(cards.locator(".count-changed .count-number")).to_have_text("2")
    expect(cards.locator(".count-conflicting .count-number")).to_have_text("1")
    expect(cards.locator(".count-unchanged .count-number")).to_have_text("597")
    page.locator(".count-conflicting").click()
    expect(page.locator("#import-samples")).to_contain_text("Hand-corrected name")
    assert not Conflict.objects.exists()  # nothing written yet

    # 5. Apply it with a reason; the page follows the job until it is done.
    page.get_by_label("Reason").fill("Monthly refresh from the source register")
    page.get_by_role("button", name="Apply the import").click()
    expect(page.get_by_role("heading", name="Applied")).to_be_visible(timeout=30_000)
    run = ImportRun.objects.get()
    assert run.counts["changed"] == 2 and run.counts["conflicting"] == 1

    # 6. The amendment survived, and the conflict waits on the conflicts page.
    page.get_by_role("link", name="Resolve the 1 conflict this import found").click()
    expect(page.locator("#conflicts-table")).to_contain_text("Hand-corrected name")
    expect(page.locator("#conflicts-table")).to_contain_text("(renamed at source)")
    page.locator("#conflicts-table tbody input[type=checkbox]").check()
    page.get_by_label("Keep the amendment").check()
    page.get_by_label("Reason").fill("Checked with the charity: our spelling is right")
    page.get_by_role("button", name="Resolve the selected").click()
    expect(page.locator(".messages")).to_contain_text("Kept the amendment for 1 conflict")
    expect(page.locator("#conflicts-table")).to_contain_text("No unresolved conflicts")

    # 7. The record's history tells the whole story.
    page.goto(f"{live_server.url}/o/demo/records/{amended.pk}/history/")
    timeline = page.locator("main")
    expect(timeline).to_contain_text("Checked with the charity: our spelling is right")
    expect(timeline).to_contain_text("The charity told us")
    amended.refresh_from_db()
    assert amended.name == "Hand-corrected name"
    renamed = Record.objects.get(reference=rows[0]["reference"], organisation__slug="demo")
    assert renamed.name.endswith("(renamed at source)")
