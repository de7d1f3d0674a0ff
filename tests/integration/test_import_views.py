"""Importing through the web: upload, columns, preview, apply, progress, reports and roles."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from records.models import ImportIssue, ImportRun, Record
from tests.helpers import amend, csv_bytes, load, preview, records, row

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
Status = ImportRun.Status


@pytest.fixture
def editor(client_for, bob):
    return client_for(bob)


def upload(client, org, name: str, content: bytes, **options):
    return client.post(
        reverse("records:import_new", args=[org.slug]),
        {"file": SimpleUploadedFile(name, content), **options},
    )


def latest_run(org) -> ImportRun:
    return ImportRun.objects.filter(organisation=org).latest("pk")


def detail(client, run):
    return client.get(reverse("records:import_detail", args=[run.organisation.slug, run.pk]))


# -- the bad-file corpus: a clear message, no 500, nothing changed ---------------------------

# Files the upload refuses outright: no run is kept.
REFUSED_AT_UPLOAD = [
    ("empty.csv", "The file is empty."),
    ("header_only.csv", "The file has a header row but no data rows."),
    ("image_png_renamed.csv", "This is an image (PNG), not a spreadsheet"),
    ("pdf_renamed.csv", "This is a PDF, not a spreadsheet"),
    ("binary_garbage.csv", "it contains binary data"),
    ("duplicate_headers.csv", "appears twice (columns B and F)"),
    ("password_protected.xlsx", "password-protected or in the old .xls format"),
    ("truncated.xlsx", "damaged and cannot be opened"),
    ("zip_bomb.xlsx", "looks like a zip bomb"),
    ("zip_not_xlsx.xlsx", "This is a zip file, not an XLSX workbook"),
    ("formula.xlsx", "cell G4 contains a formula"),
    # Found in the first rows, read at upload to show beside the columns.
    ("ragged_too_many.csv", "Row 4 has 11 cells but the header has 10."),
    ("blank_header_with_data.csv", "column E, which has no name"),
    ("nul_byte.csv", "Row 3 contains a NUL character"),
]

# Files that store a run whose check finds the problem (with its row and column).
FOUND_BY_THE_CHECK = [
    (
        "duplicate_references.csv",
        "appears more than once in the file (rows 3, 6)",
        (3, "reference"),
    ),
    ("invalid_dates.csv", "is not a date", (3, "registered_on")),
    ("invalid_numbers.csv", "is not a number", (3, "income")),
    # More digits than Python's Decimal holds: once an unhandled error.
    ("numbers_too_large.csv", "“1e30” is too large", (3, "income")),
    ("invalid_choices.csv", "“bogus” is not one of", (3, "status")),
    ("value_too_long.csv", "is too long (300 characters, at most 255)", (3, "name")),
    ("formulas.csv", "looks like a spreadsheet formula", (2, "name")),
]


@pytest.fixture
def existing(acme, make_records):
    """A register that must come out of every bad upload unchanged."""
    return make_records(acme, {"reference": "GB-CHC-1000001", "name": "Already here"})


def unchanged(acme, existing) -> None:
    assert list(
        Record.objects.filter(organisation=acme).values_list("reference", "name", "version")
    ) == [("GB-CHC-1000001", "Already here", 1)]
    assert Record.history.count() == 1  # its creation, nothing since


@pytest.mark.parametrize(("name", "message"), REFUSED_AT_UPLOAD)
def test_it_refuses_a_bad_file_at_upload_with_a_clear_message(
    editor, acme, existing, name, message
):
    response = upload(editor, acme, name, (CORPUS / name).read_bytes())
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not ImportRun.objects.exists()
    unchanged(acme, existing)


def test_it_refuses_an_encoding_chosen_that_cannot_read_the_file(editor, acme, existing):
    # UTF-16 chosen for a UTF-8 file: once a 500 (Python's codec refuses the whole stream).
    response = upload(
        editor, acme, "valid.csv", (CORPUS / "valid.csv").read_bytes(), encoding="utf-16"
    )
    assert response.status_code == 422
    assert "Row 1 is not valid UTF-16 text: choose the file" in response.content.decode()
    assert not ImportRun.objects.exists()
    unchanged(acme, existing)


@pytest.mark.parametrize(("name", "message", "where"), FOUND_BY_THE_CHECK)
def test_it_reports_what_the_check_finds_and_applies_nothing(
    editor, acme, existing, run_jobs, name, message, where
):
    response = upload(editor, acme, name, (CORPUS / name).read_bytes())
    assert response.status_code == 302
    run_jobs()
    run = latest_run(acme)
    page = detail(editor, run)
    assert page.status_code == 200
    assert message in page.content.decode()
    if where is None:  # a problem with the file itself
        assert run.status == Status.INVALID
    else:
        assert run.status == Status.PREVIEWED
        assert ImportIssue.objects.filter(run=run, row=where[0], column=where[1]).exists()
        refused = editor.post(
            reverse("records:import_apply", args=[acme.slug, run.pk]),
            {"reason": "Try anyway", "mode": "upsert"},
        )
        assert refused.status_code == 422
        assert "rows are invalid" in refused.content.decode()
    run_jobs()
    unchanged(acme, existing)


def test_it_refuses_a_file_over_the_size_limit(editor, acme, existing, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 100
    response = upload(editor, acme, "valid.csv", (CORPUS / "valid.csv").read_bytes())
    assert response.status_code == 422
    assert "the limit is 100 bytes" in response.content.decode()
    unchanged(acme, existing)


def test_it_refuses_an_upload_too_large_to_read_before_reading_it(editor, acme, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 10
    response = editor.post(
        reverse("records:import_new", args=[acme.slug]),
        data=b"x" * 100_000,
        content_type="multipart/form-data; boundary=xyz",
    )
    assert response.status_code == 413
    assert "larger than the limit of 10 bytes" in response.content.decode()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cp1252.csv", "Read as Windows-1252"),
        ("utf8_bom.csv", None),
        ("utf16_tabs.txt", None),
        ("semicolons.csv", "Columns are separated by semicolons"),
        ("tabs.tsv", None),
        ("pipes.csv", None),
        ("mixed_line_endings.csv", None),
        ("quoted_newlines.csv", None),
        ("short_rows.csv", None),
        ("escaped_formulas.csv", None),
        ("valid.xlsx", None),
        ("several_sheets.xlsx", "Read sheet “Data”, the first of 3 sheets"),
    ],
)
def test_it_imports_the_awkward_but_good_files(editor, acme, run_jobs, name, expected):
    assert upload(editor, acme, name, (CORPUS / name).read_bytes()).status_code == 302
    run_jobs()
    run = latest_run(acme)
    assert run.status == Status.PREVIEWED, run.error
    assert run.counts["invalid"] == 0, list(run.issues.values_list("row", "column", "message"))
    if expected:
        assert expected in detail(editor, run).content.decode()
    editor.post(
        reverse("records:import_apply", args=[acme.slug, run.pk]),
        {"reason": "Corpus", "mode": "upsert"},
    )
    run_jobs()
    run.refresh_from_db()
    assert run.status == Status.APPLIED, run.error
    assert Record.objects.filter(organisation=acme).count() == run.counts["new"] > 0


def test_it_keeps_characters_of_every_encoding(editor, acme, run_jobs):
    upload(editor, acme, "cp1252.csv", (CORPUS / "cp1252.csv").read_bytes())
    run_jobs()
    run = latest_run(acme)
    editor.post(
        reverse("records:import_apply", args=[acme.slug, run.pk]),
        {"reason": "Encodings", "mode": "upsert"},
    )
    run_jobs()
    names = " ".join(Record.objects.values_list("name", flat=True))
    assert "£" in names or "é" in names


# -- the journey through the pages -----------------------------------------------------------


def test_it_walks_an_editor_from_upload_to_applied(editor, acme, bob, run_jobs):
    content = csv_bytes([row("R1"), row("R2", income="lots"), row("R3")])
    response = upload(editor, acme, "register.csv", content)
    run = latest_run(acme)
    assert response["Location"] == reverse("records:import_detail", args=[acme.slug, run.pk])
    assert run.file.read() == content  # the file is kept with the run
    assert "Checking the file" in detail(editor, run).content.decode()  # before the job ran

    run_jobs()
    page = detail(editor, run).content.decode()
    assert "What the import would do" in page
    assert "R1" in page and "1 problem in 1 row" in page
    assert "“lots” is not a number" in page

    missing_reason = editor.post(
        reverse("records:import_apply", args=[acme.slug, run.pk]),
        {"reason": "", "mode": "upsert", "skip_invalid": "on"},
    )
    assert missing_reason.status_code == 422
    assert "Give a reason: it is kept in the history." in missing_reason.content.decode()

    confirmed = editor.post(
        reverse("records:import_apply", args=[acme.slug, run.pk]),
        {"reason": "First load", "mode": "upsert", "skip_invalid": "on"},
    )
    assert confirmed.status_code == 302
    run.refresh_from_db()
    assert run.status == Status.QUEUED
    run_jobs()
    run.refresh_from_db()
    assert run.status == Status.APPLIED
    assert set(Record.objects.values_list("reference", flat=True)) == {"R1", "R3"}
    assert set(Record.history.values_list("history_user", "history_change_reason")) == {
        (bob.pk, "First load")
    }
    listing = editor.get(reverse("records:import_list", args=[acme.slug])).content.decode()
    assert "register.csv" in listing and "“First load”" in listing


def test_it_asks_for_columns_and_remembers_them(editor, acme, run_jobs):
    content = csv_bytes([{"Charity no": "R1", "Title": "Trust"}], ["Charity no", "Title"])
    upload(editor, acme, "odd.csv", content)
    run = latest_run(acme)
    page = detail(editor, run).content.decode()
    assert "No column is mapped to Reference" in page
    assert "R1" in page  # the first values, to choose by
    response = editor.post(
        reverse("records:import_columns", args=[acme.slug, run.pk]),
        {"column_0": "reference", "column_1": "name"},
    )
    assert response.status_code == 302
    run_jobs()
    run.refresh_from_db()
    assert run.status == Status.PREVIEWED
    assert run.counts["new"] == 1
    upload(editor, acme, "odd-again.csv", content)
    assert latest_run(acme).status == Status.PREVIEWING  # remembered: straight to the check


def test_it_polls_progress_then_reloads_the_page_when_done(editor, acme, run_jobs):
    upload(editor, acme, "register.csv", csv_bytes([row("R1")]))
    run = latest_run(acme)
    url = reverse("records:import_detail", args=[acme.slug, run.pk])
    headers = {"HX-Request": "true", "HX-Target": "import-progress"}
    polling = editor.get(url, headers=headers)
    content = polling.content.decode()
    assert content.lstrip().startswith('<section id="import-progress"')
    assert 'hx-trigger="every 1s"' in content
    run_jobs()
    done = editor.get(url, headers=headers)
    assert done.status_code == 204
    assert done["HX-Refresh"] == "true"


def test_it_marks_a_run_whose_worker_died_failed_when_someone_looks(editor, acme, run_jobs):
    upload(editor, acme, "register.csv", csv_bytes([row("R1")]))
    run_jobs()
    run = latest_run(acme)
    ImportRun.objects.filter(pk=run.pk).update(
        status=Status.APPLYING, heartbeat_at="2000-01-01T00:00:00Z", reason="x"
    )
    page = detail(editor, run).content.decode()
    assert "The worker stopped before finishing; nothing was changed." in page
    assert "Apply again" in page
    editor.post(reverse("records:import_retry", args=[acme.slug, run.pk]))
    run_jobs()
    run.refresh_from_db()
    assert run.status == Status.APPLIED


def test_it_downloads_an_error_report_of_the_invalid_rows(editor, acme, run_jobs):
    upload(
        editor,
        acme,
        "register.csv",
        csv_bytes([row("R1"), row("R2", income="lots", name="=HYPERLINK(1)"), row("R3")]),
    )
    run_jobs()
    run = latest_run(acme)
    response = editor.get(reverse("records:import_errors", args=[acme.slug, run.pk]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="register-errors.csv"' in response["Content-Disposition"]
    report = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert report[0] == [
        "row",
        "reference",
        "name",
        "status",
        "category",
        "region",
        "postcode",
        "income",
        "registered_on",
        "website",
        "charity_type",
        "errors",
    ]
    assert len(report) == 2
    assert report[1][0] == "3"
    assert report[1][2] == "'=HYPERLINK(1)"  # the report itself is safe to open
    assert "income: “lots” is not a number" in report[1][-1]
    assert "name: “=HYPERLINK(1)” looks like a spreadsheet formula" in report[1][-1]


def test_it_discards_a_previewed_run(editor, acme, run_jobs):
    upload(editor, acme, "register.csv", csv_bytes([row("R1")]))
    run_jobs()
    run = latest_run(acme)
    editor.post(reverse("records:import_discard", args=[acme.slug, run.pk]))
    run.refresh_from_db()
    assert run.status == Status.CANCELLED
    applying = editor.post(
        reverse("records:import_apply", args=[acme.slug, run.pk]), {"reason": "x", "mode": "upsert"}
    )
    assert applying.status_code == 422
    assert not Record.objects.exists()


def test_it_keeps_imports_to_editors(client_for, vera, acme):
    viewer = client_for(vera)
    assert viewer.get(reverse("records:import_list", args=[acme.slug])).status_code == 403
    assert viewer.get(reverse("records:conflicts", args=[acme.slug])).status_code == 403


def test_it_hides_another_organisations_import(client_for, charlie, acme, beacon, bob):
    theirs = load(acme, bob, [row("R1")])
    response = client_for(charlie).get(
        reverse("records:import_detail", args=[beacon.slug, theirs.pk])
    )
    assert response.status_code == 404


def test_it_shows_an_import_in_a_constant_number_of_queries(
    editor, acme, bob, django_assert_num_queries
):
    run = load(
        acme,
        bob,
        [row(f"R{i}", income="x" if i % 2 else "1") for i in range(60)],
        skip_invalid=True,
    )
    url = reverse("records:import_detail", args=[acme.slug, run.pk])
    # session, user, memberships (the gate's and the switcher's), the run (with its people
    # and changeset), the issues' count and page
    with django_assert_num_queries(6):
        response = editor.get(url)
    assert response.status_code == 200


def test_it_finds_a_bad_row_deep_in_the_file_during_the_check(editor, acme, existing, run_jobs):
    lines = ["reference,name"] + [f"R{i},Charity {i}" for i in range(50)] + ["R50,Too,many"]
    assert upload(editor, acme, "deep.csv", "\n".join(lines).encode()).status_code == 302
    run_jobs()
    run = latest_run(acme)
    assert run.status == Status.INVALID
    assert "Row 52 has 3 cells but the header has 2." in detail(editor, run).content.decode()
    unchanged(acme, existing)


def test_the_admin_starts_the_same_pipeline(client_for, sam, acme, run_jobs):
    admin = client_for(sam)
    response = admin.post(
        reverse("admin:records_importrun_add"),
        {
            "organisation": acme.pk,
            "file": SimpleUploadedFile("register.csv", csv_bytes([row("R1")])),
        },
    )
    run = latest_run(acme)
    assert response["Location"] == reverse("records:import_detail", args=[acme.slug, run.pk])
    assert (run.channel, run.created_by, run.status) == ("admin", sam, Status.PREVIEWING)
    run_jobs()
    run.refresh_from_db()
    assert run.counts["new"] == 1
    refused = admin.post(
        reverse("admin:records_importrun_add"),
        {"organisation": acme.pk, "file": SimpleUploadedFile("x.csv", b"")},
        follow=True,
    )
    assert "The file is empty." in refused.content.decode()
    assert ImportRun.objects.count() == 1


def test_the_timeline_shows_what_an_imported_record_was_created_with(client_for, vera, acme, bob):
    load(acme, bob, [row("R1", name="Bath Lido Trust", postcode="ba2 4aa")])
    record = Record.objects.get(reference="R1")
    page = client_for(vera).get(reverse("records:history", args=[acme.slug, record.pk]))
    content = page.content.decode()
    assert "Created" in content
    assert "Bath Lido Trust" in content and "BA2 4AA" in content and "Monthly refresh" in content


def test_its_preview_labels_changes_and_conflicts_as_the_history_does(editor, acme, bob):
    load(acme, bob, [row("R1", name="Old name", income="1000.00"), row("R2", income="5.00")])
    found = records(acme)
    amend(found["R2"], bob, income="7.50")
    run = preview(
        acme,
        bob,
        csv_bytes([row("R1", name="New name", income="1000.00"), row("R2", income="6.00")]),
    )
    assert run.counts["changed"] == 1 and run.counts["conflicting"] == 1

    changed = detail(editor, run).content.decode()
    assert '<span class="diff-label">Name</span> <del class="diff-old">Old name</del>' in changed
    conflicting = editor.get(
        reverse("records:import_detail", args=[acme.slug, run.pk]), {"show": "conflicting"}
    ).content.decode()
    assert "⚠ <strong>Income</strong>: the source now says <q>6.00</q>" in conflicting
