"""manage.py seed_demo: deterministic, idempotent, one user per role, history for every record."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Membership, Organisation, Role, User
from records.fields import FIELD_NAMES
from records.models import Channel, Record, Register
from records.selectors import facet_values

FIELDS = (*FIELD_NAMES, "extra")


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def rows(slug: str) -> list[tuple]:
    return list(
        Record.objects.filter(organisation__slug=slug).order_by("reference").values_list(*FIELDS)
    )


@pytest.mark.django_db
def test_it_creates_the_demo_organisation_users_and_records(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "demo-pass-123")
    output = seed("--rows", "200")
    demo = Organisation.objects.get(slug="demo")
    assert "200 records added" in output and "demo-pass-123" in output
    assert Record.objects.filter(organisation=demo).count() == 200
    roles = dict(Membership.objects.filter(organisation=demo).values_list("user__username", "role"))
    assert roles == {"viewer": Role.VIEWER, "editor": Role.EDITOR, "manager": Role.MANAGER}
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("demo-pass-123")
    assert User.objects.get(username="viewer").check_password("demo-pass-123")
    # Every record's creation is in its history, once, from the command line.
    history = Record.history.filter(organisation_id=demo.pk)
    assert history.count() == 200
    assert set(history.values_list("channel", "history_type")) == {(Channel.CLI, "+")}
    register = Register.objects.get(organisation=demo)
    assert register.extra_columns == ["charity_type", "trustees", "telephone"]
    assert "London" in facet_values(demo)["region"]


@pytest.mark.django_db
def test_it_is_idempotent():
    seed("--rows", "150", "--password", "pw-one-two-three")
    before = rows("demo")
    output = seed("--rows", "150")
    assert "0 records added" in output
    assert "(unchanged)" in output
    assert rows("demo") == before
    assert Record.history.count() == 150
    assert User.objects.filter(username__in=["viewer", "editor", "manager", "admin"]).count() == 4
    assert User.objects.get(username="viewer").check_password("pw-one-two-three")


@pytest.mark.django_db
def test_it_tops_up_to_more_rows():
    seed("--rows", "50", "--password", "pw-one-two-three")
    first = rows("demo")
    seed("--rows", "80")
    after = rows("demo")
    assert len(after) == 80
    assert after[:50] == first


@pytest.mark.django_db
def test_it_is_deterministic_for_a_seed():
    seed("--rows", "120", "--org", "one", "--seed", "7", "--password", "pw-one-two-three")
    seed("--rows", "120", "--org", "two", "--seed", "7")
    seed("--rows", "120", "--org", "three", "--seed", "8")
    assert rows("one") == rows("two")
    assert rows("one") != rows("three")


@pytest.mark.django_db
def test_it_generates_plausible_register_rows():
    seed("--rows", "300", "--password", "pw-one-two-three")
    records = list(Record.objects.all())
    assert all(r.reference.startswith("GB-CHC-") and len(r.reference) == 14 for r in records)
    statuses = {r.status for r in records}
    assert "registered" in statuses and "removed" in statuses
    incomes = sorted(r.income for r in records if r.income is not None)
    # A long tail: the largest charity dwarfs the median one.
    assert incomes[-1] > 50 * incomes[len(incomes) // 2]
    assert all(" " in r.postcode for r in records)
    assert {"charity_type", "trustees", "telephone"} == set(records[0].extra)
