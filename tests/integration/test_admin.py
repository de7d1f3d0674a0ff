"""The data team edits records in the Django admin: through the services, with a reason."""

from __future__ import annotations

import pytest
from django.urls import reverse

from records.models import Channel, Record

History = Record.history.model


@pytest.fixture
def admin_client(client_for, sam):
    return client_for(sam)


@pytest.fixture
def trust(acme, make_records):
    (record,) = make_records(acme, {"reference": "REF-1", "name": "Oxford Trust"})
    return record


def change_data(record, **changes):
    return {
        "name": record.name,
        "status": record.status,
        "category": record.category,
        "region": record.region,
        "postcode": record.postcode,
        "income": "",
        "registered_on": "",
        "website": record.website,
        "opened_version": record.version,
        "reason": "Corrected by the data team",
    } | changes


def test_it_changes_a_record_through_the_service_with_channel_admin(admin_client, trust, sam):
    url = reverse("admin:records_record_change", args=[trust.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(
        url, change_data(trust, name="Oxford Trust CIO", postcode="ox12ab")
    )
    assert response.status_code == 302
    trust.refresh_from_db()
    assert (trust.name, trust.postcode, trust.version) == ("Oxford Trust CIO", "OX1 2AB", 2)
    assert trust.amendments["name"]["source"] == "Oxford Trust"
    entry = History.objects.filter(id=trust.pk).latest("history_id")
    assert (entry.channel, entry.history_user, entry.history_change_reason) == (
        Channel.ADMIN,
        sam,
        "Corrected by the data team",
    )
    assert History.objects.filter(id=trust.pk).count() == 2  # once, not also by the trigger


def test_it_requires_a_reason_and_refuses_a_stale_form(admin_client, trust, bob):
    url = reverse("admin:records_record_change", args=[trust.pk])
    response = admin_client.post(url, change_data(trust, name="X", reason=""))
    assert response.status_code == 200 and b"This field is required" in response.content
    Record.objects.filter(pk=trust.pk).update(version=5)
    response = admin_client.post(url, change_data(trust, name="X", opened_version=1))
    assert b"changed since you opened it" in response.content
    trust.refresh_from_db()
    assert trust.name == "Oxford Trust"


def test_it_adds_a_record_and_never_deletes_one(admin_client, acme, sam, trust):
    response = admin_client.post(
        reverse("admin:records_record_add"),
        {
            "organisation": acme.pk,
            "reference": "NEW-1",
            "name": "New",
            "status": "registered",
            "reason": "Added by hand",
        },
    )
    assert response.status_code == 302
    record = Record.objects.get(reference="NEW-1")
    (entry,) = History.objects.filter(id=record.pk)
    assert (entry.history_type, entry.channel) == ("+", Channel.ADMIN)
    assert (
        admin_client.get(reverse("admin:records_record_delete", args=[trust.pk])).status_code == 403
    )
