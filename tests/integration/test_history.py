"""The audit trail on the web: timelines, the changes page, its chart and CSV, revert and undo."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from records import selectors
from records.models import Changeset, Channel, Record, Register
from records.services.amend import record_amend, record_delete, record_restore
from records.services.bulk import records_bulk_edit

History = Record.history.model


def url(name, acme, *args):
    return reverse(f"records:{name}", args=[acme.slug, *args])


@pytest.fixture
def trust(acme, make_records, sam):
    (record,) = make_records(
        acme, {"reference": "REF-1", "name": "Oxford Trust", "region": "South East"}, by=sam
    )
    return record


@pytest.fixture
def edited(trust, bob, alice):
    """Bob renamed it; Alice moved it."""
    record_amend(
        record=trust, values={"name": "Oxford Trust CIO"}, reason="Converted", by=bob, version=1
    )
    record_amend(
        record=trust, values={"region": "London"}, reason="Moved office", by=alice, version=2
    )
    trust.refresh_from_db()
    return trust


# -- a record's timeline ----------------------------------------------------------------


def test_it_shows_a_viewer_who_changed_what_when_why_and_from_where(client_for, vera, acme, edited):
    content = client_for(vera).get(url("history", acme, edited.pk)).content.decode()
    for text in (
        "Bob",
        "Converted",
        "Alice",
        "Moved office",
        "Sam",
        "Test data",
        "Oxford Trust CIO",
        "South East",
        "London",
        "Web",
        "Command line",
    ):
        assert text in content, text
    # Newest first.
    assert content.index("Moved office") < content.index("Converted") < content.index("Test data")
    # Viewers and editors see no revert or undo.
    assert "Revert to this version" not in content and "Undo this change" not in content


def test_it_offers_managers_revert_and_undo_on_the_timeline(client_for, alice, acme, edited):
    content = client_for(alice).get(url("history", acme, edited.pk)).content.decode()
    first_edit = History.objects.get(id=edited.pk, version=2)
    assert url("revert", acme, edited.pk, first_edit.history_id) in content
    assert url("undo", acme, edited.pk, first_edit.history_id) + "?field=name" in content
    # The current version has nothing to revert to.
    latest = History.objects.get(id=edited.pk, version=3)
    assert url("revert", acme, edited.pk, latest.history_id) not in content


@pytest.mark.django_db(transaction=True)
def test_it_marks_a_direct_database_change_on_the_timeline(client_for, vera, acme, make_records):
    (record,) = make_records(acme, {"reference": "REF-D", "name": "Before"})
    Record.objects.filter(pk=record.pk).update(name="After")  # outside any service
    content = client_for(vera).get(url("history", acme, record.pk)).content.decode()
    assert "Direct database change" in content
    assert f"{connection.settings_dict['USER'] or ''}" in content
    assert "no reason was given" in content


def test_it_shows_any_key_another_operation_wrote(client_for, vera, acme, trust):
    History.objects.create(
        **{f.attname: getattr(trust, f.attname) for f in History.tracked_fields},
        history_date=timezone.now(),
        history_type="~",
        channel=Channel.IMPORT,
        history_change_reason="Resolved",
        changes={
            "conflict:name": ["open", "kept the amendment"],
            "extra.trustees": ["7", "9"],
            "deleted_at": ["2026-01-01T00:00:00+00:00", ""],
        },
    )
    content = client_for(vera).get(url("history", acme, trust.pk)).content.decode()
    assert "conflict:name" in content and "kept the amendment" in content
    assert re.search(r'diff-label">trustees</span>', content)
    assert "Restored" in content


# Timeline: 1 session, 2 user, 3 memberships (the gate's and the switcher's), 4 record,
# 5 count of its history rows, 6 one page of them with user and changeset joined.
def test_it_shows_a_timeline_in_a_constant_number_of_queries(
    client_for, vera, acme, trust, bob, django_assert_num_queries
):
    for index in range(30):
        record_amend(
            record=trust,
            values={"name": f"Name {index}"},
            reason=f"r{index}",
            by=bob,
            version=index + 1,
        )
    records_bulk_edit(
        organisation=acme,
        records=Record.objects.all(),
        field="region",
        value="Kent",
        reason="bulk",
        by=bob,
    )
    viewer = client_for(vera)
    with django_assert_num_queries(6):
        response = viewer.get(url("history", acme, trust.pk))
    assert response.content.decode().count('class="timeline-entry') == 32


# -- the changes page -------------------------------------------------------------------


@pytest.fixture
def manager(client_for, alice):
    return client_for(alice)


@pytest.fixture
def activity(acme, beacon, make_records, bob, alice, charlie):
    """Edits by bob and alice, a bulk edit, a deletion and another organisation's change."""
    records = make_records(
        acme,
        {"reference": "R-1", "name": "One", "region": "North", "postcode": "N1 1AA"},
        {"reference": "R-2", "name": "Two", "region": "North"},
        {"reference": "R-3", "name": "Three", "region": "South"},
    )
    (theirs,) = make_records(beacon, {"reference": "B-1"})
    record_amend(
        record=records[0],
        values={"postcode": "N2 2BB"},
        reason="Typo in postcode",
        by=bob,
        version=1,
    )
    record_amend(
        record=records[1], values={"name": "Deux"}, reason="Translated name", by=alice, version=1
    )
    bulk = records_bulk_edit(
        organisation=acme,
        records=Record.objects.filter(region="North"),
        field="region",
        value="Northern",
        reason="Regions renamed",
        by=bob,
    )
    record_delete(record=records[2], reason="Duplicate record", by=bob)
    record_amend(
        record=theirs, values={"name": "Secret"}, reason="Beacon only", by=charlie, version=1
    )
    return {"records": records, "bulk": bulk.changeset}


def change_refs(response) -> list[tuple[str, str]]:
    """(reference, action) of each row of the changes table, in order."""
    content = response.content.decode()
    return re.findall(r'<code>([\w-]+)</code>.*?badge-change-\w+">(\w+)<', content, flags=re.S)


def test_it_lets_only_managers_review_changes(client_for, bob, vera, acme):
    for person in (bob, vera):
        assert client_for(person).get(url("changes", acme)).status_code == 403
        assert client_for(person).get(url("changes_export", acme)).status_code == 403


def test_it_lists_every_change_of_the_organisation_newest_first(manager, acme, activity):
    response = manager.get(url("changes", acme))
    content = response.content.decode()
    refs = change_refs(response)
    assert refs[0] == ("R-3", "Deleted")
    # The bulk edit's two rows share one moment.
    assert sorted(refs[1:3]) == [("R-1", "Changed"), ("R-2", "Changed")]
    assert refs[3:] == [
        ("R-2", "Changed"),
        ("R-1", "Changed"),
        ("R-3", "Created"),
        ("R-2", "Created"),
        ("R-1", "Created"),
    ]
    assert "Beacon only" not in content and "B-1" not in content
    assert "8 changes" in content
    assert 'href="/o/acme/changes/"' in content and 'aria-current="page">Changes' in content


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"channel": "bulk"}, ["R-1", "R-2"]),
        ({"field": "postcode"}, ["R-1"]),
        ({"field": "name"}, ["R-2"]),
        ({"reason": "typo"}, ["R-1"]),  # a row's own reason
        ({"reason": "regions REN"}, ["R-1", "R-2"]),  # the operation's reason, prefixes
        ({"reason": "duplicate"}, ["R-3"]),
        ({"reason": "nothing-like-it"}, []),
    ],
)
def test_it_filters_changes(manager, acme, activity, params, expected):
    response = manager.get(url("changes", acme), params)
    assert sorted(ref for ref, _ in change_refs(response)) == expected


def test_it_filters_changes_by_person_operation_and_date(manager, acme, activity, alice):
    by_alice = manager.get(url("changes", acme), {"user": alice.pk})
    assert change_refs(by_alice) == [("R-2", "Changed")]
    operation = manager.get(url("changes", acme), {"changeset": activity["bulk"].pk})
    assert sorted(ref for ref, _ in change_refs(operation)) == ["R-1", "R-2"]
    assert "Set Region to “Northern”" in operation.content.decode()
    today = timezone.localdate()
    assert len(change_refs(manager.get(url("changes", acme), {"date_after": today}))) == 8
    tomorrow = today + dt.timedelta(days=1)
    assert change_refs(manager.get(url("changes", acme), {"date_after": tomorrow})) == []


def _menu(content: str, name: str) -> list[tuple[str, str]]:
    """(value, label) of each option of the filter form's menu `name`."""
    menu = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', content, flags=re.S)
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', menu.group(1))


def test_its_menus_offer_the_organisations_people_columns_and_operations(
    manager, acme, beacon, activity, bob, alice, vera, charlie, sam
):
    Register.objects.create(organisation=acme, extra_columns=["trustees", "charity_type"])
    Register.objects.create(organisation=beacon, extra_columns=["secret_column"])
    operations = [
        Changeset.objects.create(
            organisation=acme, kind="import", channel="import", reason="r", summary=f"Run {i}"
        )
        for i in range(55)
    ]
    oldest = operations[0]
    Changeset.objects.filter(pk=oldest.pk).update(created_at=dt.datetime(2020, 1, 2, tzinfo=dt.UTC))
    theirs = Changeset.objects.create(organisation=beacon, kind="import", channel="import")

    content = manager.get(url("changes", acme)).content.decode()
    # Members of acme and the data team (superusers), by name; not beacon's charlie.
    assert _menu(content, "user") == [
        ("", "Anyone"),
        (str(alice.pk), "Alice"),
        (str(bob.pk), "Bob"),
        (str(sam.pk), "Sam"),
        (str(vera.pk), "Vera"),
    ]
    fields = [value for value, _ in _menu(content, "field")]
    assert fields[-3:] == ["deleted_at", "extra.trustees", "extra.charity_type"]
    offered = _menu(content, "changeset")
    assert len(offered) == 1 + 50  # "Any operation" and the latest fifty, newest first
    assert offered[1] == (str(operations[-1].pk), f"#{operations[-1].pk} Run 54 ({today()})")
    assert str(oldest.pk) not in dict(offered) and str(theirs.pk) not in dict(offered)

    # An older operation asked for is offered too, and filters; another organisation's is
    # neither offered nor taken.
    older = manager.get(url("changes", acme), {"changeset": oldest.pk}).content.decode()
    assert _menu(older, "changeset")[-1] == (str(oldest.pk), f"#{oldest.pk} Run 0 (2 Jan 2020)")
    other = manager.get(url("changes", acme), {"changeset": theirs.pk}).content.decode()
    assert str(theirs.pk) not in dict(_menu(other, "changeset"))
    assert "Select a valid choice" in other
    for odd in ("²", "9" * 40, "-1"):
        assert manager.get(url("changes", acme), {"changeset": odd}).status_code == 200


def today() -> str:
    return f"{timezone.localdate():%-d %b %Y}"


def test_it_answers_a_filter_with_the_results_fragment(manager, acme, activity):
    response = manager.get(
        url("changes", acme),
        {"channel": "web"},
        headers={"HX-Request": "true", "HX-Target": "change-results"},
    )
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="change-results"')
    assert "<html" not in content
    assert "HX-Request" in response["Vary"]


# Changes page: 1 session, 2 user, 3 memberships (the gate's and the switcher's), 4 capped
# count, 5 one page of rows with user and changeset joined, 6 the menus (people, the
# register's extra columns for the field menu, recent operations). The fragment: 1-5.
@pytest.mark.parametrize("per_page", [25, 100])
def test_it_lists_changes_in_a_constant_number_of_queries(
    manager, acme, activity, bob, make_records, django_assert_num_queries, per_page
):
    make_records(acme, *({"reference": f"Q-{i:03d}"} for i in range(120)))
    records_bulk_edit(
        organisation=acme,
        records=Record.objects.all(),
        field="category",
        value="Sport",
        reason="everyone plays",
        by=bob,
    )
    with django_assert_num_queries(6):
        response = manager.get(url("changes", acme), {"per_page": per_page})
    assert len(change_refs(response)) == per_page
    with django_assert_num_queries(5):
        manager.get(
            url("changes", acme),
            {"per_page": per_page},
            headers={"HX-Request": "true", "HX-Target": "change-results"},
        )
    # A chosen person and field are checked against the menus the page draws, read once
    # for both; the field filter adds the probe that picks its plan.
    with django_assert_num_queries(7):
        response = manager.get(
            url("changes", acme),
            {"per_page": per_page, "user": bob.pk, "field": "category", "changeset": ""},
        )
    assert len(change_refs(response)) == per_page
    # Searching reasons adds two: the matching operations, and the probe of the newest
    # rows that picks the plan (records/history.py).
    with django_assert_num_queries(7):
        manager.get(
            url("changes", acme),
            {"reason": "plays"},
            headers={"HX-Request": "true", "HX-Target": "change-results"},
        )


# Chart: 1 session, 2 user, 3 memberships, 4 counts per day and channel.
def test_it_charts_changes_per_day_by_channel(manager, acme, activity, django_assert_num_queries):
    with django_assert_num_queries(4):
        response = manager.get(url("changes_chart", acme), headers={"HX-Request": "true"})
    content = response.content.decode()
    assert "<svg" in content and "<html" not in content
    assert re.search(r"Bulk edit <span class=\"muted\">2</span>", content)
    assert re.search(r"Web <span class=\"muted\">3</span>", content)
    assert re.search(r"Command line <span class=\"muted\">3</span>", content)
    assert content.count('class="bar ') == 3  # one day, three channels
    # Over a chosen period, filtered like the table.
    today = timezone.localdate()
    response = manager.get(
        url("changes_chart", acme),
        {"date_after": today - dt.timedelta(days=6), "date_before": today, "channel": "bulk"},
    )
    content = response.content.decode()
    assert content.count('class="bar ') == 1
    assert content.count('<text class="axis"') == 3 + 7  # three y ticks, seven days


def test_it_exports_the_filtered_changes_as_csv(manager, acme, activity):
    response = manager.get(url("changes_export", acme), {"channel": "web"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["reference"], r["field"], r["old"], r["new"], r["who"]) for r in rows] == [
        ("R-3", "Deleted", "", rows[0]["new"], "Bob"),
        ("R-2", "Name", "Two", "Deux", "Alice"),
        ("R-1", "Postcode", "N1 1AA", "N2 2BB", "Bob"),
    ]
    assert rows[1]["reason"] == "Translated name" and rows[1]["channel"] == "Web"


def test_it_escapes_formulas_in_the_csv(manager, acme, trust, bob):
    record_amend(
        record=trust, values={"name": '=HYPERLINK("x")'}, reason="+1 evil", by=bob, version=1
    )
    response = manager.get(url("changes_export", acme))
    assert response["Content-Disposition"].startswith('attachment; filename="acme-changes-')
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")  # the export's BOM: Excel reads it as UTF-8
    body = raw.decode("utf-8-sig")
    assert "'=HYPERLINK" in body and "'+1 evil" in body


# -- revert and undo --------------------------------------------------------------------


def test_it_forbids_editors_to_revert_or_undo(client_for, bob, acme, edited):
    entry = History.objects.get(id=edited.pk, version=2)
    editor = client_for(bob)
    for name in ("revert", "undo"):
        assert editor.get(url(name, acme, edited.pk, entry.history_id)).status_code == 403
        response = editor.post(url(name, acme, edited.pk, entry.history_id), {"reason": "x"})
        assert response.status_code == 403


def test_it_reverts_a_record_to_a_version_with_a_reason(manager, acme, edited, alice):
    entry = History.objects.get(id=edited.pk, version=1)
    page = manager.get(url("revert", acme, edited.pk, entry.history_id)).content.decode()
    assert "Oxford Trust CIO" in page and "London" in page  # what the revert changes
    assert (
        manager.post(
            url("revert", acme, edited.pk, entry.history_id), {"reason": "", "version": 3}
        ).status_code
        == 422
    )
    response = manager.post(
        url("revert", acme, edited.pk, entry.history_id),
        {"reason": "Both changes were wrong", "version": 3},
    )
    assert response["Location"] == url("history", acme, edited.pk)
    edited.refresh_from_db()
    assert (edited.name, edited.region, edited.amendments, edited.version) == (
        "Oxford Trust",
        "South East",
        {},
        4,
    )
    latest = History.objects.filter(id=edited.pk).latest("history_id")
    assert (latest.history_user, latest.history_change_reason) == (alice, "Both changes were wrong")
    assert History.objects.filter(id=edited.pk).count() == 4


def test_it_refuses_a_stale_revert(manager, acme, edited, bob):
    entry = History.objects.get(id=edited.pk, version=1)
    record_amend(record=edited, values={"postcode": "OX1 1AA"}, reason="Later", by=bob, version=3)
    response = manager.post(
        url("revert", acme, edited.pk, entry.history_id), {"reason": "x", "version": 3}
    )
    assert response.status_code == 409
    content = response.content.decode()
    assert "Not saved" in content and "Later" in content
    assert 'name="version" value="4"' in content
    edited.refresh_from_db()
    assert edited.name == "Oxford Trust CIO"


def test_it_undoes_one_field_of_one_change(manager, acme, trust, bob):
    record_amend(
        record=trust, values={"name": "Renamed", "region": "Kent"}, reason="x", by=bob, version=1
    )
    entry = History.objects.get(id=trust.pk, version=2)
    page = manager.get(url("undo", acme, trust.pk, entry.history_id), {"field": "region"})
    content = page.content.decode()
    assert re.search(r'value="region"[^>]*checked', content)
    assert not re.search(r'value="name"[^>]*checked', content)
    response = manager.post(
        url("undo", acme, trust.pk, entry.history_id),
        {"field": ["region"], "reason": "Not moved", "version": 2},
    )
    assert response.status_code == 302
    trust.refresh_from_db()
    assert (trust.name, trust.region) == ("Renamed", "South East")
    assert set(trust.amendments) == {"name"}


def test_it_does_not_undo_a_creation_or_revert_a_deleted_record(manager, acme, trust, bob):
    created = History.objects.get(id=trust.pk, history_type="+")
    assert manager.get(url("undo", acme, trust.pk, created.history_id)).status_code == 302
    record_delete(record=trust, reason="gone", by=bob)
    assert manager.get(url("revert", acme, trust.pk, created.history_id)).status_code == 302
    record_restore(record=trust, reason="back", by=bob)
    assert manager.get(url("revert", acme, trust.pk, created.history_id)).status_code == 200


def test_it_shows_an_operation_in_the_changes_list_and_its_entries(manager, acme, activity):
    response = manager.get(url("changes", acme), {"channel": "bulk"})
    content = response.content.decode()
    assert f"?changeset={activity['bulk'].pk}" in content
    assert json.dumps(Channel.BULK.label)[1:-1] in content
    assert Changeset.objects.filter(organisation=acme).count() == 1


def test_a_deep_page_of_changes_shows_the_rows_a_plain_page_would(
    manager, acme, activity, make_records, monkeypatch
):
    make_records(acme, *({"reference": f"R-D{i:02d}"} for i in range(60)))

    def pages(deep_from):
        monkeypatch.setattr(selectors, "DEEP_PAGE_OFFSET", deep_from)
        return [
            change_refs(manager.get(url("changes", acme), {"page": page, **sort}))
            for sort in ({}, {"sort": "when"}, {"reason": "renamed"})
            for page in (2, 3)
        ]

    with CaptureQueriesContext(connection) as plain_queries:
        plain = pages(10_000)
    with CaptureQueriesContext(connection) as queries:
        keyed = pages(25)
    assert keyed == plain
    assert [len(refs) for refs in plain[:2]] == [25, 18]  # 68 changes of acme
    keys_first = re.compile(r'"history_id" IN \(SELECT .* LIMIT 25 OFFSET 25\)')
    assert not any(keys_first.search(query["sql"]) for query in plain_queries)
    assert any(keys_first.search(query["sql"]) for query in queries)
