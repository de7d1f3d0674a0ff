"""No query string makes a page fail: each of these once gave a 500.

Every page that lists or charts something, asked for a page size, a bound or a date
that a form would never send (found by trying every filter of every page with odd
values: NUL bytes, huge numbers, year 1 and 9999, -1, 3,000 characters).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

PAGES = [
    "list",
    "facets",
    "deleted",
    "changes",
    "changes_chart",
    "changes_export",
    "conflicts",
    "import_list",
    "export_csv",
]

QUERIES = [
    {"per_page": "-1"},  # django-tables2 took it over the view's page size
    {"per_page": "100000"},
    {"income_min": "1e999999999"},  # overflowed PostgreSQL's numeric
    {"date_after": "9999-12-31"},  # the chart counted up to the day after
    {"date_before": "0001-01-01"},  # and a year back from the first
]


@pytest.mark.parametrize("page", PAGES)
def test_odd_query_strings_get_a_page(client_for, alice, acme, make_records, page):
    make_records(acme, {"reference": "R1", "income": 5})
    client = client_for(alice)
    url = reverse(f"records:{page}", args=[acme.slug])
    for query in QUERIES:
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            assert client.get(url, query, **headers).status_code == 200, (query, headers)


def test_a_page_size_of_its_own_is_not_taken(client_for, alice, acme, make_records):
    make_records(acme, *({"reference": f"R{i:02d}"} for i in range(30)))
    client = client_for(alice)
    content = client.get(reverse("records:list", args=[acme.slug]), {"per_page": "27"})
    assert content.content.decode().count('name="ids"') == 25
