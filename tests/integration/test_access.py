"""Tenant isolation, checked for every URL under /o/<org_slug>/, found from the URLconf.

A new URL is covered the moment it is added: it must be behind the one gate
(accounts.access.organisation_view), send the anonymous to log in, and answer a member
of another organisation with 404 for every method.
"""

from __future__ import annotations

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import Role

ORG_PREFIX = "o/<slug:org_slug>/"


def _org_patterns():
    """Yield (namespaced name, converters) for every URL pattern under /o/<org_slug>/."""

    def walk(patterns, namespace, converters):
        for entry in patterns:
            found = {**converters, **getattr(entry.pattern, "converters", {})}
            if isinstance(entry, URLResolver):
                ns = ":".join(filter(None, [namespace, entry.namespace]))
                yield from walk(entry.url_patterns, ns, found)
            elif isinstance(entry, URLPattern) and entry.name:
                yield ":".join(filter(None, [namespace, entry.name])), found, entry

    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and str(entry.pattern) == ORG_PREFIX:
            yield from walk(entry.url_patterns, entry.namespace, entry.pattern.converters)


ORG_PATTERNS = sorted(_org_patterns(), key=lambda item: item[0])


def _url(name: str, converters: dict, org_slug: str) -> str:
    kwargs = {}
    for key, converter in converters.items():
        if key == "org_slug":
            kwargs[key] = org_slug
        elif type(converter).__name__ == "IntConverter":
            kwargs[key] = 1
        elif type(converter).__name__ == "UUIDConverter":
            kwargs[key] = uuid.uuid4()
        else:
            kwargs[key] = "x"
    return reverse(name, kwargs=kwargs)


def test_it_finds_the_organisation_urls():
    names = {name for name, _, _ in ORG_PATTERNS}
    assert {"records:list", "records:detail", "members:list"} <= names


@pytest.mark.parametrize(
    ("name", "converters", "pattern"), ORG_PATTERNS, ids=[p[0] for p in ORG_PATTERNS]
)
def test_it_puts_every_organisation_url_behind_the_gate(name, converters, pattern):
    assert isinstance(getattr(pattern.callback, "required_role", None), Role), (
        f"{name} is not decorated with accounts.access.organisation_view"
    )


@pytest.mark.parametrize(
    ("name", "converters", "pattern"), ORG_PATTERNS, ids=[p[0] for p in ORG_PATTERNS]
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_it_sends_the_anonymous_to_log_in(client, acme, name, converters, pattern, method):
    url = _url(name, converters, acme.slug)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login") + "?next=")


@pytest.mark.parametrize(
    ("name", "converters", "pattern"), ORG_PATTERNS, ids=[p[0] for p in ORG_PATTERNS]
)
def test_it_reloads_an_anonymous_htmx_request_as_a_page(client, acme, name, converters, pattern):
    url = _url(name, converters, acme.slug)
    response = client.get(
        url, headers={"HX-Request": "true", "HX-Current-URL": "http://testserver" + url}
    )
    assert response.status_code == 200
    assert response["HX-Redirect"]


@pytest.mark.parametrize(
    ("name", "converters", "pattern"), ORG_PATTERNS, ids=[p[0] for p in ORG_PATTERNS]
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_it_hides_an_organisation_from_members_of_another(
    client_for, acme, charlie, name, converters, pattern, method
):
    url = _url(name, converters, acme.slug)
    response = getattr(client_for(charlie), method)(url)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("name", "converters", "pattern"), ORG_PATTERNS, ids=[p[0] for p in ORG_PATTERNS]
)
def test_it_hides_an_organisation_from_people_in_none(
    client_for, acme, nora, name, converters, pattern
):
    response = client_for(nora).get(_url(name, converters, acme.slug))
    assert response.status_code == 404


def test_it_answers_404_for_an_organisation_that_does_not_exist(client_for, vera):
    response = client_for(vera).get("/o/no-such-org/records/")
    assert response.status_code == 404


def test_it_forbids_a_member_below_the_role(client_for, vera, acme):
    response = client_for(vera).get(reverse("members:list", args=[acme.slug]))
    assert response.status_code == 403
    assert b"Not allowed" in response.content


def test_it_lets_superusers_into_every_organisation(client_for, sam, acme, beacon):
    client = client_for(sam)
    assert client.get(reverse("records:list", args=[acme.slug])).status_code == 200
    assert client.get(reverse("members:list", args=[beacon.slug])).status_code == 200


def test_it_hides_another_organisations_record_behind_a_url_of_ones_own(
    client_for, acme, beacon, vera, make_records
):
    (theirs,) = make_records(beacon, {"name": "Beacon Private"})
    response = client_for(vera).get(reverse("records:detail", args=[acme.slug, theirs.pk]))
    assert response.status_code == 404
