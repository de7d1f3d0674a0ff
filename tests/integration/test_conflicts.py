"""Resolving import conflicts: keep the amendment or accept the source, singly or in bulk."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from records.models import Changeset, Conflict, Record
from records.services.conflicts import conflicts_resolve
from tests.helpers import amend, load, records, row


@pytest.fixture
def conflicted(acme, bob, alice):
    """Three records whose names alice amended, then a source that renamed all three."""
    load(acme, bob, [row("R1"), row("R2"), row("R3"), row("R4")])
    for reference in ("R1", "R2", "R3"):
        amend(records(acme)[reference], alice, name=f"Corrected {reference}")
    load(acme, bob, [row(r, name=f"Source {r}") for r in ("R1", "R2", "R3")] + [row("R4")])
    assert Conflict.objects.filter(resolved_at__isnull=True).count() == 3
    return {c.record.reference: c for c in Conflict.objects.select_related("record")}


def test_it_keeps_the_amendment_and_says_so_in_the_history(acme, bob, conflicted):
    conflict = conflicted["R1"]
    result = conflicts_resolve(
        organisation=acme,
        conflicts=[conflict],
        resolution="keep",
        reason="Our spelling is right",
        by=bob,
    )
    assert (result.kept, result.accepted, result.changeset) == (1, 0, None)
    conflict.refresh_from_db()
    assert (conflict.resolution, conflict.resolved_by, conflict.resolution_reason) == (
        "keep",
        bob,
        "Our spelling is right",
    )
    record = records(acme)["R1"]
    assert record.name == "Corrected R1"
    assert record.amendments["name"]["source"] == "Source R1"
    entry = Record.history.filter(id=record.pk).latest()
    assert entry.changes == {
        "conflict:name": ["source: Source R1", "kept the amendment: Corrected R1"]
    }
    assert (entry.history_user, entry.history_change_reason) == (bob, "Our spelling is right")


def test_it_accepts_the_source_value_and_clears_the_amendment(acme, bob, conflicted):
    conflicts_resolve(
        organisation=acme,
        conflicts=[conflicted["R2"]],
        resolution="accept",
        reason="The register is right",
        by=bob,
    )
    record = records(acme)["R2"]
    assert record.name == "Source R2"
    assert "name" not in record.amendments
    entry = Record.history.filter(id=record.pk).latest()
    assert entry.changes["name"] == ["Corrected R2", "Source R2"]
    assert entry.changed_fields == ["conflict:name", "name"]
    # No longer amended: the next import may change the name again.
    load(acme, bob, [row("R2", name="Source R2 again")])
    assert records(acme)["R2"].name == "Source R2 again"


def test_it_resolves_several_as_one_operation(acme, bob, conflicted):
    result = conflicts_resolve(
        organisation=acme,
        conflicts=list(conflicted.values()),
        resolution="accept",
        reason="Trust the register",
        by=bob,
    )
    assert result.accepted == 3
    assert result.changeset.kind == Changeset.Kind.CONFLICTS
    assert Record.history.filter(changeset=result.changeset).count() == 3
    assert not Conflict.objects.filter(resolved_at__isnull=True).exists()


def test_it_ignores_conflicts_resolved_meanwhile_and_of_other_organisations(
    acme, beacon, bob, conflicted
):
    conflicts_resolve(
        organisation=acme, conflicts=[conflicted["R1"]], resolution="keep", reason="first", by=bob
    )
    again = conflicts_resolve(
        organisation=acme,
        conflicts=[conflicted["R1"]],
        resolution="accept",
        reason="second",
        by=bob,
    )
    assert again.accepted == 0
    assert records(acme)["R1"].name == "Corrected R1"
    elsewhere = conflicts_resolve(
        organisation=beacon,
        conflicts=[conflicted["R2"]],
        resolution="accept",
        reason="not ours",
        by=bob,
    )
    assert elsewhere.accepted == 0


def test_it_lists_the_conflicts_with_what_each_side_says(client_for, bob, acme, conflicted):
    content = client_for(bob).get(reverse("records:conflicts", args=[acme.slug])).content.decode()
    for text in ("Source R1", "Corrected R1", "Charity R1", "by Alice"):
        assert text in content
    # The field by its label, as the history names it.
    assert re.findall(r"<td[^>]*>(\w+)</td>", content) == ["Name"] * 3


def test_a_record_page_shows_its_open_conflicts(client_for, bob, acme, conflicted):
    record = conflicted["R1"].record
    page = client_for(bob).get(reverse("records:detail", args=[acme.slug, record.pk])).content
    assert "<li><strong>Name</strong>: the source now says <q>Source R1</q>" in page.decode()


def test_it_filters_conflicts(client_for, bob, acme, conflicted):
    client = client_for(bob)
    url = reverse("records:conflicts", args=[acme.slug])
    content = client.get(url, {"q": "R2"}).content.decode()
    assert "Corrected R2" in content and "Corrected R1" not in content
    run = conflicted["R1"].import_run
    assert "Corrected R3" in client.get(url, {"import_run": run.pk}).content.decode()
    assert "No unresolved conflicts" in client.get(url, {"field": "income"}).content.decode()


def test_it_resolves_the_selected_conflicts_through_the_page(client_for, bob, acme, conflicted):
    response = client_for(bob).post(
        reverse("records:conflict_resolve", args=[acme.slug]),
        {
            "selected": [conflicted["R1"].pk, conflicted["R3"].pk],
            "resolution": "accept",
            "reason": "Checked with the charity",
            "querystring": "field=name",
        },
    )
    assert response.status_code == 302
    assert response["Location"].endswith("?field=name")
    assert set(
        Conflict.objects.filter(resolved_at__isnull=True).values_list(
            "record__reference", flat=True
        )
    ) == {"R2"}


def test_it_resolves_all_that_match_the_filter(client_for, bob, acme, conflicted):
    client_for(bob).post(
        reverse("records:conflict_resolve", args=[acme.slug]),
        {"all_matching": "on", "resolution": "keep", "reason": "All fine", "querystring": "q=R"},
    )
    assert not Conflict.objects.filter(resolved_at__isnull=True).exists()


def test_it_needs_a_reason_and_a_choice_to_resolve(client_for, bob, acme, conflicted):
    response = client_for(bob).post(
        reverse("records:conflict_resolve", args=[acme.slug]),
        {"selected": [conflicted["R1"].pk], "resolution": "keep", "reason": ""},
    )
    assert response.status_code == 422
    assert "Give a reason" in response.content.decode()
    nothing = client_for(bob).post(
        reverse("records:conflict_resolve", args=[acme.slug]),
        {"resolution": "keep", "reason": "x"},
    )
    assert "Choose the conflicts to resolve." in nothing.content.decode()
    assert Conflict.objects.filter(resolved_at__isnull=True).count() == 3


def test_it_cannot_resolve_another_organisations_conflict(client_for, charlie, beacon, conflicted):
    response = client_for(charlie).post(
        reverse("records:conflict_resolve", args=[beacon.slug]),
        {"selected": [conflicted["R1"].pk], "resolution": "accept", "reason": "x"},
    )
    assert response.status_code == 422
    assert Conflict.objects.filter(resolved_at__isnull=True).count() == 3


def test_it_lists_conflicts_in_a_constant_number_of_queries(
    client_for, bob, acme, conflicted, django_assert_num_queries
):
    client = client_for(bob)
    # session, user, memberships (the gate's and the switcher's), count, the page (records,
    # users, runs joined)
    with django_assert_num_queries(5):
        client.get(reverse("records:conflicts", args=[acme.slug]))
