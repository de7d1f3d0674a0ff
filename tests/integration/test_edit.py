"""Editing through the web: create, edit (page and inline row), delete, restore, bulk edit."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from records.models import Changeset, Channel, Record
from records.services.amend import record_amend, record_delete

History = Record.history.model


@pytest.fixture
def trust(acme, make_records):
    (record,) = make_records(
        acme,
        {
            "reference": "REF-1",
            "name": "Oxford Community Trust",
            "region": "South East",
            "postcode": "OX1 2AB",
            "income": Decimal("12000.00"),
        },
    )
    return record


@pytest.fixture
def editor(client_for, bob):
    return client_for(bob)


def url(name, acme, *args):
    return reverse(f"records:{name}", args=[acme.slug, *args])


def row(pk):
    """Headers of a request made by a row of the table (hx-target="closest tr")."""
    return {"HX-Request": "true", "HX-Target": f"record-{pk}"}


# -- roles ------------------------------------------------------------------------------


def test_it_lets_a_viewer_read_but_not_change(client_for, vera, acme, trust):
    viewer = client_for(vera)
    content = viewer.get(url("list", acme)).content.decode()
    assert 'name="ids"' not in content and "bulk-edit" not in content
    assert ">Edit</a>" not in content
    detail = viewer.get(url("detail", acme, trust.pk)).content.decode()
    assert "History" in detail and "Delete…" not in detail
    for name in ("edit", "delete"):
        assert viewer.get(url(name, acme, trust.pk)).status_code == 403
        assert viewer.post(url(name, acme, trust.pk), {"reason": "x"}).status_code == 403
    assert viewer.get(url("create", acme)).status_code == 403
    assert viewer.post(url("bulk_edit", acme), {"ids": [trust.pk]}).status_code == 403


def test_it_gives_editors_row_boxes_an_edit_button_and_the_bulk_bar(editor, acme, trust):
    content = editor.get(url("list", acme)).content.decode()
    assert f'name="ids" value="{trust.pk}" form="bulk-edit"' in content
    assert 'id="bulk-edit"' in content
    assert f'hx-get="{url("edit", acme, trust.pk)}" hx-target="closest tr"' in content
    assert f'id="record-{trust.pk}"' in content


def test_it_hides_another_organisations_record_from_its_edit_urls(
    editor, acme, beacon, make_records
):
    (theirs,) = make_records(beacon, {"reference": "B-1"})
    for name in ("edit", "delete", "history"):
        assert editor.get(url(name, acme, theirs.pk)).status_code == 404
    response = editor.post(url("edit", acme, theirs.pk), {"name": "x", "reason": "x"})
    assert response.status_code == 404


# -- create -----------------------------------------------------------------------------


def test_it_creates_a_record_with_a_reason(editor, acme, bob):
    response = editor.post(
        url("create", acme),
        {
            "reference": "NEW-1",
            "name": "Bath Lido Trust",
            "status": "registered",
            "income": "£1,200",
            "reason": "New registration",
        },
    )
    record = Record.objects.get(reference="NEW-1")
    assert response.status_code == 302
    assert response["Location"] == url("detail", acme, record.pk)
    assert record.income == Decimal("1200.00")
    assert record.amendments["name"]["source"] == ""
    (entry,) = History.objects.filter(id=record.pk)
    assert (entry.history_type, entry.history_user, entry.history_change_reason) == (
        "+",
        bob,
        "New registration",
    )


def test_it_refuses_a_number_too_large_for_a_decimal_with_a_message(editor, acme, trust):
    # "1e30" has more digits than Python's Decimal context holds: once a 500.
    response = editor.post(
        url("create", acme),
        {"reference": "REF-1", "name": "Big", "income": "1e30", "reason": "New"},
    )
    assert response.status_code == 422
    assert "Income “1e30” is too large." in response.content.decode()
    assert Record.objects.count() == 1


def test_it_keeps_what_was_typed_and_shows_errors_beside_the_fields(editor, acme, trust):
    response = editor.post(
        url("create", acme),
        {"reference": "REF-1", "name": "", "income": "lots", "postcode": "BA2 4AA", "reason": ""},
    )
    assert response.status_code == 422
    content = response.content.decode()
    assert "Name is required." in content
    assert "Income “lots” is not a number." in content
    assert "Give a reason" in content
    assert 'value="BA2 4AA"' in content and 'value="lots"' in content
    assert Record.objects.count() == 1
    # A valid form whose reference is taken: the error is beside the reference.
    response = editor.post(
        url("create", acme), {"reference": "REF-1", "name": "Again", "reason": "dup"}
    )
    assert response.status_code == 422
    assert re.search(r"already exists", response.content.decode())


# -- edit on the record's page ----------------------------------------------------------


def edit_data(record, **changes):
    data = {
        "name": record.name,
        "status": record.status,
        "category": record.category,
        "region": record.region,
        "postcode": record.postcode,
        "income": "" if record.income is None else str(record.income),
        "registered_on": "",
        "website": record.website,
        "version": record.version,
        "reason": "Checked against their accounts",
    }
    return data | changes


def test_it_saves_an_edit_and_marks_the_field_amended(editor, acme, trust, bob):
    response = editor.post(url("edit", acme, trust.pk), edit_data(trust, name="Oxford CT"))
    assert response.status_code == 302
    trust.refresh_from_db()
    assert trust.name == "Oxford CT" and trust.version == 2
    assert trust.amendments["name"]["source"] == "Oxford Community Trust"
    page = editor.get(url("detail", acme, trust.pk)).content.decode()
    assert "is-amended" in page and "source: <q>Oxford Community Trust</q>" in page
    assert "Revert to source value" in page


def test_it_refuses_a_stale_edit_shows_what_changed_and_overwrites_nothing(
    editor, acme, trust, alice
):
    opened = edit_data(trust)  # bob opens the form at version 1
    record_amend(
        record=trust, values={"region": "London"}, reason="Moved office", by=alice, version=1
    )
    response = editor.post(url("edit", acme, trust.pk), opened | {"name": "Bob's name"})
    assert response.status_code == 409
    content = response.content.decode()
    assert "Not saved: this record changed since you opened it." in content
    assert "Alice" in content and "Moved office" in content
    assert "South East" in content and "London" in content
    trust.refresh_from_db()
    assert (trust.name, trust.region, trust.version) == ("Oxford Community Trust", "London", 2)
    # The form comes back at version 2 with bob's input, and alice's region.
    assert 'name="version" value="2"' in content
    assert 'value="Bob\'s name"' in content or 'value="Bob&#x27;s name"' in content
    assert re.search(r'name="region" value="London"', content)
    # Saving that form applies bob's change on top of alice's.
    again = editor.post(
        url("edit", acme, trust.pk),
        edit_data(trust, name="Bob's name", region="London", version=2),
    )
    assert again.status_code == 302
    trust.refresh_from_db()
    assert (trust.name, trust.region, trust.version) == ("Bob's name", "London", 3)


def test_it_sends_an_edit_of_a_deleted_record_to_its_page(editor, acme, trust, bob):
    record_delete(record=trust, reason="gone", by=bob)
    response = editor.get(url("edit", acme, trust.pk))
    assert response["Location"] == url("detail", acme, trust.pk)


# -- inline edit in the table ------------------------------------------------------------


def test_it_turns_a_row_into_a_form_and_back(editor, acme, trust):
    form = editor.get(url("edit", acme, trust.pk), headers=row(trust.pk))
    content = form.content.decode()
    assert content.lstrip().startswith(f'<tr id="record-{trust.pk}" class="is-editing">')
    assert f'form="row-form-{trust.pk}"' in content
    assert 'value="Oxford Community Trust"' in content
    assert "<html" not in content
    cancel = editor.get(url("detail", acme, trust.pk), headers=row(trust.pk))
    assert cancel.content.decode().lstrip().startswith(f'<tr id="record-{trust.pk}"')
    assert "is-editing" not in cancel.content.decode()
    assert "HX-Request" in form["Vary"]


def inline_data(record, prefix=None, **changes):
    prefix = prefix or f"r{record.pk}"
    data = {
        "name": record.name,
        "status": record.status,
        "category": record.category,
        "region": record.region,
        "postcode": record.postcode,
        "income": "" if record.income is None else str(record.income),
        "registered_on": "",
        "reason": "Typo",
    } | changes
    return {f"{prefix}-{k}": v for k, v in data.items()} | {
        f"{prefix}-version": changes.get("version", record.version)
    }


def test_it_saves_a_row_and_answers_with_the_row_and_a_message(editor, acme, trust):
    response = editor.post(
        url("edit", acme, trust.pk), inline_data(trust, name="Oxford CT"), headers=row(trust.pk)
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith(f'<tr id="record-{trust.pk}"')
    assert "Oxford CT" in content and "is-editing" not in content
    assert "Amended by hand: name" in content
    assert json.loads(response["HX-Trigger"])["flash"]["text"] == "Saved REF-1."
    trust.refresh_from_db()
    assert trust.name == "Oxford CT"
    # The inline form does not carry the website: it is left as it was.
    assert trust.website == ""


def test_it_keeps_a_rows_input_and_shows_its_errors(editor, acme, trust):
    response = editor.post(
        url("edit", acme, trust.pk),
        inline_data(trust, income="lots", reason=""),
        headers=row(trust.pk),
    )
    assert response.status_code == 422
    content = response.content.decode()
    assert "is-editing" in content
    assert "Income “lots” is not a number." in content and 'value="lots"' in content
    assert "Give a reason" in content


def test_it_refuses_a_stale_row_and_keeps_the_first_save(editor, acme, trust, alice):
    record_amend(record=trust, values={"name": "Alice's"}, reason="Hers", by=alice, version=1)
    response = editor.post(
        url("edit", acme, trust.pk),
        inline_data(trust, region="Kent", version=1),
        headers=row(trust.pk),
    )
    assert response.status_code == 409
    content = response.content.decode()
    assert "Not saved" in content and "Alice" in content and "Hers" in content
    assert json.loads(response["HX-Trigger"])["flash"]["level"] == "error"
    trust.refresh_from_db()
    assert (trust.name, trust.region) == ("Alice's", "South East")
    # The row comes back at the new version: the untouched name shows alice's value.
    assert f'name="r{trust.pk}-version" value="2"' in content
    assert 'value="Alice&#x27;s"' in content and 'value="Kent"' in content


# -- delete and restore -----------------------------------------------------------------


def test_it_deletes_with_a_reason_lists_the_deleted_and_restores(editor, acme, trust, bob):
    page = editor.get(url("delete", acme, trust.pk))
    assert b"Give a reason" not in page.content and b"Delete" in page.content
    assert editor.post(url("delete", acme, trust.pk), {"reason": ""}).status_code == 422
    response = editor.post(
        url("delete", acme, trust.pk), {"reason": "Duplicate of REF-2", "version": 1}
    )
    assert response["Location"] == url("list", acme)
    assert ">REF-1</a>" not in editor.get(url("list", acme)).content.decode()

    deleted = editor.get(url("deleted", acme)).content.decode()
    assert "REF-1" in deleted and "Duplicate of REF-2" in deleted and "Bob" in deleted
    detail = editor.get(url("detail", acme, trust.pk)).content.decode()
    assert "Restore…" in detail and ">Edit</a>" not in detail

    response = editor.post(url("restore", acme, trust.pk), {"reason": "Not a duplicate"})
    assert response["Location"] == url("detail", acme, trust.pk)
    assert ">REF-1</a>" in editor.get(url("list", acme)).content.decode()
    assert list(
        History.objects.filter(id=trust.pk).order_by("history_id").values_list("history_type")
    ) == [("+",), ("-",), ("~",)]


def test_it_refuses_a_stale_delete(editor, acme, trust, alice):
    record_amend(record=trust, values={"name": "Changed"}, reason="x", by=alice, version=1)
    response = editor.post(url("delete", acme, trust.pk), {"reason": "dup", "version": 1})
    assert response.status_code == 409
    assert b"Not saved" in response.content
    trust.refresh_from_db()
    assert trust.deleted_at is None


def test_it_reverts_a_field_to_its_source_value(editor, acme, trust, bob):
    record_amend(record=trust, values={"region": "Kent"}, reason="moved", by=bob, version=1)
    response = editor.post(
        url("revert_source", acme, trust.pk, "region"), {"reason": "Not moved", "version": 2}
    )
    assert response["Location"] == url("detail", acme, trust.pk)
    trust.refresh_from_db()
    assert (trust.region, trust.amendments) == ("South East", {})
    unamended = editor.get(url("revert_source", acme, trust.pk, "region"))
    assert unamended.status_code == 302


# -- bulk edit --------------------------------------------------------------------------


@pytest.fixture
def register(acme, make_records):
    return make_records(
        acme,
        {"reference": "R-1", "name": "Oxford A", "region": "South East"},
        {"reference": "R-2", "name": "Oxford B", "region": "London"},
        {"reference": "R-3", "name": "Leeds C", "region": "North"},
    )


def bulk(client, acme, **data):
    return client.post(
        url("bulk_edit", acme),
        {"field": "region", "value": "London", "reason": "Regions merged"} | data,
        headers={"HX-Request": "true", "HX-Target": "bulk-edit"},
    )


def test_it_bulk_edits_the_ticked_rows_and_answers_with_the_results(editor, acme, register, bob):
    r1, r2, _r3 = register
    response = bulk(editor, acme, ids=[r1.pk, r2.pk], query="q=oxford")
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#record-results"
    assert response.content.decode().lstrip().startswith('<div id="record-results"')
    assert json.loads(response["HX-Trigger"])["flash"]["text"] == (
        "Changed region of 1 record; 1 already had that value."
    )
    changeset = Changeset.objects.get()
    assert (changeset.user, changeset.channel, changeset.reason) == (
        bob,
        Channel.BULK,
        "Regions merged",
    )
    assert list(
        History.objects.filter(changeset=changeset).values_list("reference", flat=True)
    ) == ["R-1"]


def test_it_bulk_edits_all_records_matching_the_view(editor, acme, register):
    response = bulk(editor, acme, all="on", query="q=oxford", value="Kent")
    assert response.status_code == 200
    regions = dict(Record.objects.values_list("reference", "region"))
    assert regions == {"R-1": "Kent", "R-2": "Kent", "R-3": "North"}


def test_it_shows_bulk_edit_errors_in_the_bar_only(editor, acme, register):
    response = bulk(editor, acme, reason="", field="income", value="lots")
    assert response.status_code == 422
    content = response.content.decode()
    assert content.lstrip().startswith('<form id="bulk-edit"')
    assert "Tick the records to change" in content
    assert "Income “lots” is not a number." in content
    assert "Give a reason" in content
    assert not Changeset.objects.exists()


def test_it_never_bulk_edits_another_organisations_records(
    editor, acme, beacon, register, make_records
):
    (theirs,) = make_records(beacon, {"reference": "B-1", "region": "Wales"})
    bulk(editor, acme, ids=[theirs.pk, register[2].pk])
    theirs.refresh_from_db()
    assert theirs.region == "Wales"
    assert Record.objects.get(reference="R-3").region == "London"


def test_it_bulk_edits_without_javascript_and_comes_back_to_the_view(editor, acme, register):
    response = editor.post(
        url("bulk_edit", acme),
        {
            "field": "status",
            "value": "Removed",
            "reason": "Closed",
            "ids": [register[0].pk],
            "query": "q=oxford",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == url("list", acme) + "?q=oxford"
    assert Record.objects.get(reference="R-1").status == "removed"
