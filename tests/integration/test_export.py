"""Downloading the records view: CSV streamed, XLSX now or by a worker; names, escaping, access."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from decimal import Decimal

import openpyxl
import pytest
from django.db import connection
from django.db.models import F
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone
from python_calamine import CalamineWorkbook

from records import tasks
from records.models import ExportJob, Record
from records.services import exports
from records.services.exports import csvfile, jobs
from records.services.register import register_note

Status = ExportJob.Status


@pytest.fixture
def register(acme, beacon, make_records):
    """Acme's register (with extra columns) and one record of Beacon's."""
    make_records(beacon, {"reference": "B-1", "name": "Oxford Beacon Trust"})
    records = make_records(
        acme,
        {
            "reference": "REF-1",
            "name": "Oxford Community Trust",
            "category": "Education/training",
            "region": "South East",
            "postcode": "OX1 2AB",
            "income": Decimal("12000.00"),
            "registered_on": dt.date(2001, 5, 17),
            "website": "https://oxford.example.org",
            "extra": {"trustees": "7", "Name": "Ann Other"},
        },
        {
            "reference": "REF-2",
            "name": "Leeds Food Bank",
            "status": "removed",
            "postcode": "LS1 4AP",
            "income": Decimal("500.50"),
            "registered_on": dt.date(1990, 1, 2),
        },
        {
            "reference": "REF-3",
            "name": "Oxford Rowing Club",
            "income": Decimal("250000.00"),
            "registered_on": dt.date(2015, 9, 30),
            "extra": {"trustees": "12"},
        },
        {"reference": "0042", "name": '=HYPERLINK("http://evil")', "income": Decimal("-3.00")},
    )
    register_note(organisation=acme, extra_columns=["trustees", "Name"])
    return records


@pytest.fixture
def viewer(client_for, vera):
    return client_for(vera)


def export_csv(client, organisation, **params):
    return client.get(reverse("records:export_csv", args=[organisation.slug]), params)


def export_xlsx(client, organisation, **params):
    url = reverse("records:export_xlsx", args=[organisation.slug])
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return client.post(f"{url}?{query}" if query else url)


def csv_rows(response) -> list[list[str]]:
    content = b"".join(response.streaming_content)
    assert content.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(content[len(codecs.BOM_UTF8) :].decode())))


def xlsx_rows(content: bytes) -> list[list]:
    workbook = CalamineWorkbook.from_filelike(io.BytesIO(content))
    return workbook.get_sheet_by_index(0).to_python()


def table_references(client, organisation, **params) -> list[str]:
    """The references the records browser shows for the same query, in its order."""
    response = client.get(reverse("records:list", args=[organisation.slug]), params)
    return [row.record.reference for row in response.context["table"].page.object_list]


HEADERS = [
    "reference",
    "name",
    "status",
    "category",
    "region",
    "postcode",
    "income",
    "registered_on",
    "website",
    "trustees",
    "extra:Name",  # "Name" alone would read back as the core field
]


# -- CSV -------------------------------------------------------------------------------


def test_it_downloads_the_view_as_csv_with_every_column(viewer, acme, register):
    response = export_csv(viewer, acme)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "no-store" in response["Cache-Control"]
    rows = csv_rows(response)
    assert rows[0] == HEADERS
    by_reference = {row[0]: row for row in rows[1:]}
    assert set(by_reference) == {"REF-1", "REF-2", "REF-3", "0042"}  # not Beacon's
    assert by_reference["REF-1"] == [
        "REF-1",
        "Oxford Community Trust",
        "registered",
        "Education/training",
        "South East",
        "OX1 2AB",
        "12000.00",
        "2001-05-17",
        "https://oxford.example.org",
        "7",
        "Ann Other",
    ]
    # Empty values are empty cells; numbers are numbers, negative ones too.
    assert by_reference["REF-2"][3:5] == ["", ""]
    assert by_reference["0042"][6:8] == ["-3.00", ""]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": "oxford"},
        {"status": "registered", "sort": "-income"},
        {"q": "oxford", "sort": "registered_on"},
        {"income_min": "600", "sort": "-name"},
        {"registered_on_after": "2000-01-01", "registered_on_before": "2010-01-01"},
        {"sort": "reference", "page": "1"},
        {"status": "not-a-status"},  # ignored, as the browser ignores it
    ],
)
def test_it_exports_exactly_what_the_browser_shows(viewer, acme, register, params):
    shown = table_references(viewer, acme, per_page=100, **params)
    rows = csv_rows(export_csv(viewer, acme, **params))
    assert [row[0] for row in rows[1:]] == shown


def test_it_breaks_ties_as_the_table_does(viewer, acme, make_records):
    make_records(acme, *({"reference": f"T-{i:02d}", "name": "Same Name"} for i in range(30)))
    for sort, order in (("name", ("name", "id")), ("-name", ("-name", "-id"))):
        rows = csv_rows(export_csv(viewer, acme, sort=sort))
        expected = Record.objects.order_by(*order).values_list("reference", flat=True)
        assert [row[0] for row in rows[1:]] == list(expected)


def test_it_escapes_what_a_spreadsheet_would_run_and_keeps_numbers_numbers(
    viewer, acme, make_records
):
    make_records(
        acme,
        {"reference": "F1", "name": "=1+1", "category": "+cmd|' /C calc'!A0", "region": "@SUM(1)"},
        {"reference": "F2", "name": "-2", "postcode": "\tTAB", "income": Decimal("-2.00")},
        {"reference": "F3", "name": "'=already escaped", "website": "\rCR"},
        {"reference": "F4", "name": "Plain 'quoted' = fine", "extra": {"note": "=cmd"}},
    )
    register_note(organisation=acme, extra_columns=["note"])
    rows = {row[0]: row for row in csv_rows(export_csv(viewer, acme))[1:]}
    assert rows["F1"][1:5] == ["'=1+1", "registered", "'+cmd|' /C calc'!A0", "'@SUM(1)"]
    assert (rows["F2"][1], rows["F2"][5], rows["F2"][6]) == ("'-2", "'\tTAB", "-2.00")
    assert (rows["F3"][1], rows["F3"][8]) == ("''=already escaped", "'\rCR")
    assert (rows["F4"][1], rows["F4"][9]) == ("Plain 'quoted' = fine", "'=cmd")


def test_it_streams_the_csv_rather_than_building_it(viewer, acme, make_records, monkeypatch):
    monkeypatch.setattr(csvfile, "CHUNK_BYTES", 1024)
    make_records(
        acme, *({"reference": f"S-{i:04d}", "name": f"Charity {i:04d}"} for i in range(400))
    )
    response = export_csv(viewer, acme)
    assert response.streaming
    assert not response.has_header("Content-Length")
    chunks = iter(response.streaming_content)
    # The header goes out before the rows are read: a record added after the first
    # chunk has gone is in the file, so nothing had been read ahead.
    assert (
        next(chunks) == codecs.BOM_UTF8 + (",".join(f'"{h}"' for h in HEADERS[:9]) + "\n").encode()
    )
    make_records(acme, {"reference": "S-LATE", "name": "Charity 9999"})
    rest = list(chunks)
    assert len(rest) > 10  # in pieces of about CHUNK_BYTES, not one body
    assert all(len(chunk) < 1024 + 100 for chunk in rest)
    assert b"S-LATE" in rest[-1]
    # And the connection is free for the next query afterwards.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def test_it_leaves_the_connection_usable_when_the_download_is_abandoned(
    acme, make_records, monkeypatch
):
    monkeypatch.setattr(csvfile, "CHUNK_BYTES", 1024)
    make_records(acme, *({"reference": f"A-{i:04d}"} for i in range(300)))
    view = exports.records_view(organisation=acme, params=QueryDict(""))
    stream = exports.stream_csv(queryset=view.queryset, columns=view.columns)
    next(stream), next(stream)  # the header, and the first rows
    # What the server does (through response.close()) when the browser goes away,
    # in the middle of the COPY.
    stream.close()
    assert Record.objects.filter(organisation=acme).count() == 300


def test_it_streams_any_queryset_as_csv(acme, bob, make_records, settings):
    # The machinery the changes page's export uses: history rows, timestamps, JSON.
    settings.TIME_ZONE = "Europe/London"
    make_records(acme, {"reference": "H-1", "name": "=Formula"}, by=bob)
    entry = Record.history.get(reference="H-1")
    when = timezone.localtime(entry.history_date).strftime("%Y-%m-%d %H:%M:%S")
    history = Record.history.filter(organisation_id=acme.pk).order_by("-history_date")
    columns = [
        exports.Column("when", F("history_date"), exports.CellKind.DATETIME),
        exports.Column("reference", F("reference")),
        exports.Column("name", F("name")),
        exports.Column("by", F("history_user__username")),
        exports.Column("version", F("version"), exports.CellKind.NUMBER),
    ]
    content = b"".join(exports.stream_csv(queryset=history, columns=columns))
    assert content.decode("utf-8-sig") == (
        f'"when","reference","name","by","version"\n{when},H-1,\'=Formula,bob,1\n'
    )


# -- names -----------------------------------------------------------------------------


def test_it_names_the_file_after_the_organisation_the_view_and_the_time(
    viewer, acme, register, monkeypatch
):
    moment = dt.datetime(2025, 3, 4, 17, 5, tzinfo=dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: moment)
    response = export_csv(viewer, acme)
    assert response["Content-Disposition"] == (
        'attachment; filename="acme-records-all-20250304-1705.csv"'
    )
    response = export_csv(viewer, acme, status="registered", q="Oxford", sort="-income")
    assert response["Content-Disposition"] == (
        'attachment; filename="acme-records-status-registered_q-oxford-20250304-1705.csv"'
    )


def test_it_names_non_ascii_views_both_ways(viewer, acme, register, monkeypatch):
    moment = dt.datetime(2025, 7, 1, 9, 30, tzinfo=dt.UTC)  # 10:30 in London
    monkeypatch.setattr(timezone, "now", lambda: moment)
    response = export_csv(viewer, acme, q="Zürich “Café”")
    assert response["Content-Disposition"] == (
        'attachment; filename="acme-records-q-zurich-cafe-20250701-1030.csv"; '
        "filename*=UTF-8''acme-records-q-z%C3%BCrich-caf%C3%A9-20250701-1030.csv"
    )


def test_it_makes_unsafe_names_safe():
    assert exports.content_disposition('a"b\\c;d.csv') == 'attachment; filename="a-b-c-d.csv"; ' + (
        "filename*=UTF-8''a%22b%5Cc%3Bd.csv"
    )
    assert exports.content_disposition("日本.xlsx") == (
        "attachment; filename=\"export.xlsx\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.xlsx"
    )


# -- XLSX ------------------------------------------------------------------------------


def test_it_downloads_a_small_view_as_xlsx_at_once(viewer, acme, register):
    response = export_xlsx(viewer, acme, q="oxford", sort="-income")
    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert re.match(
        r'attachment; filename="acme-records-q-oxford-\d{8}-\d{4}\.xlsx"$',
        response["Content-Disposition"],
    )
    content = b"".join(response.streaming_content)
    rows = xlsx_rows(content)
    assert rows[0] == HEADERS
    assert [row[0] for row in rows[1:]] == table_references(
        viewer, acme, q="oxford", sort="-income"
    )
    assert rows[2][:8] == [
        "REF-1",
        "Oxford Community Trust",
        "registered",
        "Education/training",
        "South East",
        "OX1 2AB",
        12000.0,
        dt.date(2001, 5, 17),
    ]
    # Numbers and dates are number and date cells, formatted; text is text.
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert sheet["G3"].value == 12000 and sheet["G3"].number_format == "#,##0.00"
    assert sheet["H3"].is_date and sheet["H3"].number_format == "yyyy-mm-dd"
    assert sheet["A1"].font.b
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:K3"


def test_it_escapes_formulas_in_xlsx_too(viewer, acme, register):
    rows = xlsx_rows(b"".join(export_xlsx(viewer, acme).streaming_content))
    by_reference = {row[0]: row for row in rows[1:]}
    assert by_reference["0042"][1] == '\'=HYPERLINK("http://evil")'
    assert by_reference["0042"][6] == -3.0


def test_it_wants_a_post_for_xlsx(viewer, acme, register):
    response = viewer.get(reverse("records:export_xlsx", args=[acme.slug]))
    assert response.status_code == 405


def test_it_offers_both_downloads_for_the_current_view(viewer, acme, register):
    response = viewer.get(reverse("records:list", args=[acme.slug]), {"q": "oxford"})
    html = response.content.decode()
    assert 'href="/o/acme/records/export.csv?q=oxford"' in html
    assert 'action="/o/acme/records/export.xlsx?q=oxford"' in html


# -- background exports ----------------------------------------------------------------


@pytest.fixture
def small_inline_limit(settings):
    settings.EXPORT_XLSX_INLINE_MAX_ROWS = 2


def job_url(organisation, job, name="records:export_job"):
    return reverse(name, args=[organisation.slug, job.pk])


def test_it_builds_a_large_xlsx_in_the_background_with_progress_then_a_link(
    viewer, client_for, bob, acme, register, small_inline_limit, run_jobs
):
    response = export_xlsx(viewer, acme, sort="-income")
    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == job_url(acme, job)
    assert (job.organisation, job.status, job.format) == (acme, Status.QUEUED, "xlsx")
    assert job.query == {"querystring": "sort=-income"}
    assert re.fullmatch(r"acme-records-all-\d{8}-\d{4}\.xlsx", job.filename)

    page = viewer.get(job_url(acme, job))
    assert "Waiting for a worker" in page.content.decode()
    poll = viewer.get(job_url(acme, job), headers={"HX-Request": "true", "HX-Target": "export-job"})
    assert poll.content.decode().lstrip().startswith('<section id="export-job"')
    assert 'hx-trigger="every 1s"' in poll.content.decode()

    assert run_jobs() == 1
    job.refresh_from_db()
    assert (job.status, job.progress, job.processed_rows, job.total_rows) == (
        Status.DONE,
        100,
        4,
        4,
    )
    assert job.expires_at == job.finished_at + dt.timedelta(hours=24)
    poll = viewer.get(
        job_url(acme, job), headers={"HX-Request": "true", "HX-Target": "export-job"}
    ).content.decode()
    assert "hx-trigger" not in poll  # done: the polling stops
    assert job_url(acme, job, "records:export_download") in poll

    # Any member of the organisation may fetch it, not only whoever asked.
    download = client_for(bob).get(job_url(acme, job, "records:export_download"))
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="{job.filename}"'
    rows = xlsx_rows(b"".join(download.streaming_content))
    assert [row[0] for row in rows[1:]] == ["REF-3", "REF-1", "REF-2", "0042"]


def test_it_hides_background_exports_from_other_organisations(
    viewer, client_for, charlie, acme, beacon, register, small_inline_limit, run_jobs
):
    export_xlsx(viewer, acme)
    run_jobs()
    job = ExportJob.objects.get()
    outsider = client_for(charlie)
    assert outsider.get(job_url(acme, job)).status_code == 404
    assert outsider.get(job_url(acme, job, "records:export_download")).status_code == 404
    # Nor through their own organisation's URLs.
    assert outsider.get(job_url(beacon, job)).status_code == 404
    assert outsider.get(job_url(beacon, job, "records:export_download")).status_code == 404


def test_it_expires_the_link_with_a_clear_page_and_deletes_the_file(
    viewer, acme, register, small_inline_limit, run_jobs
):
    export_xlsx(viewer, acme)
    run_jobs()
    job = ExportJob.objects.get()
    stored = job.file.name
    ExportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now())
    response = viewer.get(job_url(acme, job, "records:export_download"))
    assert response.status_code == 410
    assert "This download has expired" in response.content.decode()
    assert "/o/acme/records/" in response.content.decode()
    job.refresh_from_db()
    assert not job.file
    assert not job.file.storage.exists(stored)
    assert "has expired" in viewer.get(job_url(acme, job)).content.decode()


def test_it_deletes_expired_files_on_a_schedule(acme, bob, register, run_jobs):
    fresh = exports.export_job_create(organisation=acme, user=bob, params=QueryDict(""))
    stale = exports.export_job_create(organisation=acme, user=bob, params=QueryDict("q=oxford"))
    run_jobs()
    stale.refresh_from_db()
    stored = stale.file.name
    ExportJob.objects.filter(pk=stale.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    assert exports.export_jobs_expire() == 1
    fresh.refresh_from_db()
    stale.refresh_from_db()
    assert fresh.file and not stale.file
    assert not fresh.file.storage.exists(stored)
    assert fresh.file.storage.exists(fresh.file.name)
    assert exports.export_jobs_expire() == 0


def test_it_runs_the_expiry_as_a_periodic_task():
    (periodic,) = [
        p
        for p in tasks.app.periodic_registry.periodic_tasks.values()
        if p.task is tasks.export_expire_job
    ]
    assert periodic.cron == "*/15 * * * *"


def test_it_fails_a_job_whose_worker_died(viewer, acme, register, small_inline_limit):
    export_xlsx(viewer, acme)
    job = ExportJob.objects.get()
    ExportJob.objects.filter(pk=job.pk).update(
        status=Status.RUNNING, heartbeat_at=timezone.now() - dt.timedelta(minutes=5)
    )
    page = viewer.get(job_url(acme, job)).content.decode()
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert "The worker stopped before finishing" in page
    assert "hx-trigger" not in page


def test_it_refuses_more_rows_than_a_sheet_holds(
    viewer, acme, register, small_inline_limit, run_jobs, monkeypatch
):
    monkeypatch.setattr(jobs, "MAX_ROWS", 4)  # a header and three records
    export_xlsx(viewer, acme)
    run_jobs()
    job = ExportJob.objects.get()
    assert job.status == Status.FAILED
    assert "more than an Excel sheet holds" in job.error
    assert "download CSV" in viewer.get(job_url(acme, job)).content.decode()


def test_it_sends_the_download_of_an_unfinished_job_to_its_page(
    viewer, acme, register, small_inline_limit
):
    export_xlsx(viewer, acme)
    job = ExportJob.objects.get()
    response = viewer.get(job_url(acme, job, "records:export_download"))
    assert response.status_code == 302
    assert response["Location"] == job_url(acme, job)


# -- queries ---------------------------------------------------------------------------
#
# CSV:  1 session, 2 user, 3 memberships with their organisations (the gate), 4 register
#       (the extra columns); then the rows in one COPY, which Django does not log.
# XLSX: the same, and 5 the capped count that decides between now and a worker.


def test_it_exports_in_a_constant_number_of_queries(
    viewer, acme, make_records, django_assert_num_queries
):
    make_records(acme, *({"reference": f"Q-{i:03d}", "extra": {"k": str(i)}} for i in range(50)))
    with django_assert_num_queries(4):
        rows = csv_rows(export_csv(viewer, acme, q="charity"))
    assert len(rows) == 51
    with django_assert_num_queries(5):
        response = export_xlsx(viewer, acme, q="charity")
    assert len(xlsx_rows(b"".join(response.streaming_content))) == 51
