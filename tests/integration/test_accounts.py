"""Logging in, the landing page, and managers managing members."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import Membership, Organisation, Role, User


def test_it_logs_in_with_a_username_or_an_email(client, vera, password):
    for login in ("vera", "VERA@example.com"):
        response = client.post(reverse("accounts:login"), {"username": login, "password": password})
        assert response.status_code == 302, login
        client.logout()


def test_it_refuses_a_wrong_password_without_saying_which_part_was_wrong(client, vera):
    response = client.post(
        reverse("accounts:login"), {"username": "vera@example.com", "password": "nope"}
    )
    assert response.status_code == 200
    assert b"That username or email and password do not match" in response.content


def test_it_sends_a_member_of_one_organisation_straight_to_its_records(client_for, vera, acme):
    response = client_for(vera).get(reverse("accounts:home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("records:list", args=[acme.slug])


def test_it_lets_a_member_of_several_organisations_choose(client_for, vera, acme, beacon):
    Membership.objects.create(user=vera, organisation=beacon, role=Role.EDITOR)
    response = client_for(vera).get(reverse("accounts:home"))
    content = response.content.decode()
    assert response.status_code == 200
    assert "Acme Charities" in content and "Beacon Foundation" in content


def test_it_offers_the_switcher_between_organisations(client_for, vera, acme, beacon):
    Membership.objects.create(user=vera, organisation=beacon, role=Role.EDITOR)
    Organisation.objects.create(name="Cobalt Trust", slug="cobalt")  # not hers
    content = client_for(vera).get(reverse("records:list", args=[acme.slug])).content.decode()
    switcher = content[content.index('class="menu switcher"') :]
    switcher = switcher[: switcher.index("</details>")]
    links = re.findall(r'href="([^"]+)"( aria-current="true")?', switcher)
    assert links == [
        (reverse("records:list", args=[acme.slug]), ' aria-current="true"'),
        (reverse("records:list", args=[beacon.slug]), ""),
    ]
    assert "Viewer" in switcher and "Editor" in switcher


def test_it_tells_someone_in_no_organisation_what_to_do(client_for, nora):
    response = client_for(nora).get(reverse("accounts:home"))
    assert b"not a member of any organisation" in response.content


def test_it_sends_the_anonymous_from_the_landing_page_to_log_in(client):
    response = client.get(reverse("accounts:home"))
    assert response["Location"].startswith(reverse("accounts:login"))


def test_it_changes_a_password(client_for, vera, password):
    client = client_for(vera)
    response = client.post(
        reverse("accounts:password_change"),
        {
            "old_password": password,
            "new_password1": "a new long passphrase",
            "new_password2": "a new long passphrase",
        },
    )
    assert response.status_code == 302
    vera.refresh_from_db()
    assert vera.check_password("a new long passphrase")


# -- members --------------------------------------------------------------------------


@pytest.fixture
def manager(client_for, alice):
    return client_for(alice)


def members_url(org):
    return reverse("members:list", args=[org.slug])


def test_it_lists_members_for_managers(manager, acme, bob, vera):
    content = manager.get(members_url(acme)).content.decode()
    assert (
        "alice@example.com" in content
        and "bob@example.com" in content
        and "vera@example.com" in content
    )


def test_it_adds_a_new_person_by_email_with_a_link_to_set_a_password(manager, client, acme, alice):
    response = manager.post(
        members_url(acme), {"email": "Newcomer@Example.com", "role": Role.EDITOR}
    )
    assert response.status_code == 302
    user = User.objects.get(email__iexact="newcomer@example.com")
    assert not user.has_usable_password()
    assert Membership.objects.get(user=user, organisation=acme).role == Role.EDITOR

    (message,) = mail.outbox
    assert message.to == ["Newcomer@example.com"]  # the domain normalised, the rest as typed
    assert "Acme Charities" in message.subject
    link = re.search(r"http://testserver(/accounts/password/set/\S+)", message.body)[1]
    # The link lets them choose a password and logs them in.
    form_page = client.get(link, follow=True)
    response = client.post(
        form_page.redirect_chain[-1][0],
        {
            "new_password1": "a sturdy passphrase",
            "new_password2": "a sturdy passphrase",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a sturdy passphrase")


def test_it_adds_an_existing_person_without_a_new_account(manager, acme, charlie):
    manager.post(members_url(acme), {"email": "charlie@example.com", "role": Role.VIEWER})
    assert Membership.objects.get(user=charlie, organisation=acme).role == Role.VIEWER
    assert User.objects.filter(email__iexact="charlie@example.com").count() == 1
    assert "set your password" not in mail.outbox[0].body.lower()


def test_it_refuses_to_add_a_member_twice(manager, acme, bob):
    response = manager.post(members_url(acme), {"email": "bob@example.com", "role": Role.VIEWER})
    assert response.status_code == 422
    assert b"already a member" in response.content
    assert Membership.objects.get(user=bob, organisation=acme).role == Role.EDITOR


def test_it_keeps_the_input_of_an_invalid_add(manager, acme):
    response = manager.post(members_url(acme), {"email": "not-an-email", "role": Role.VIEWER})
    assert response.status_code == 422
    assert b'value="not-an-email"' in response.content
    assert b"Enter a valid email address" in response.content


def test_it_changes_a_role(manager, acme, bob):
    membership = Membership.objects.get(user=bob, organisation=acme)
    response = manager.post(
        reverse("members:role", args=[acme.slug, membership.pk]),
        {"role": Role.MANAGER},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert f'id="member-{membership.pk}"' in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.MANAGER


def test_it_refuses_to_demote_the_last_manager(manager, acme, alice):
    membership = Membership.objects.get(user=alice, organisation=acme)
    response = manager.post(
        reverse("members:role", args=[acme.slug, membership.pk]),
        {"role": Role.EDITOR},
        headers={"HX-Request": "true"},
    )
    assert b"at least one manager" in response.content
    membership.refresh_from_db()
    assert membership.role == Role.MANAGER


def test_it_refuses_to_remove_the_last_manager(manager, acme, alice):
    membership = Membership.objects.get(user=alice, organisation=acme)
    response = manager.post(reverse("members:remove", args=[acme.slug, membership.pk]), follow=True)
    assert b"at least one manager" in response.content
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_it_lets_a_manager_step_down_when_another_remains(manager, acme, alice, bob):
    Membership.objects.filter(user=bob).update(role=Role.MANAGER)
    membership = Membership.objects.get(user=alice, organisation=acme)
    manager.post(reverse("members:remove", args=[acme.slug, membership.pk]))
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_it_removes_a_member(manager, acme, vera):
    membership = Membership.objects.get(user=vera, organisation=acme)
    manager.post(reverse("members:remove", args=[acme.slug, membership.pk]))
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert User.objects.filter(pk=vera.pk).exists()


def test_it_does_not_touch_another_organisations_members(manager, acme, beacon, charlie):
    theirs = Membership.objects.get(user=charlie, organisation=beacon)
    response = manager.post(reverse("members:remove", args=[acme.slug, theirs.pk]))
    assert response.status_code == 404
    assert Membership.objects.filter(pk=theirs.pk).exists()
