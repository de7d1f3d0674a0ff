"""The records browser: filters, search, sorting, fragments, counting and query counts."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from records import selectors
from records.models import Conflict, Record
from records.selectors import CappedPaginator
from records.services.amend import record_delete


def references(response) -> list[str]:
    """The references in the table, in the order shown."""
    return re.findall(r">(REF-[\w-]+|GB-[\w-]+)</a>", response.content.decode())


@pytest.fixture
def register(acme, beacon, make_records):
    """A small register with one of everything, plus a record in the other organisation."""
    make_records(
        beacon, {"reference": "B-1", "name": "Oxford Beacon Trust", "status": "registered"}
    )
    return make_records(
        acme,
        {
            "reference": "REF-1",
            "name": "Oxford Community Trust",
            "status": "registered",
            "category": "Education/training",
            "region": "South East",
            "postcode": "OX1 2AB",
            "income": Decimal("12000.00"),
            "registered_on": dt.date(2001, 5, 17),
        },
        {
            "reference": "REF-2",
            "name": "Leeds Food Bank",
            "status": "removed",
            "category": "Relief of poverty",
            "region": "Yorkshire and the Humber",
            "postcode": "LS1 4AP",
            "income": Decimal("500.50"),
            "registered_on": dt.date(1990, 1, 2),
        },
        {
            "reference": "REF-3",
            "name": "Oxford Rowing Club",
            "status": "registered",
            "category": "Amateur sport",
            "region": "South East",
            "postcode": "OX4 1AA",
            "income": Decimal("250000.00"),
            "registered_on": dt.date(2015, 9, 30),
        },
        {
            "reference": "GB-CHC-1234567",
            "name": "St Mary's Church Bath",
            "status": "merged",
            "category": "Religious activities",
            "region": "South West",
            "postcode": "BA1 1AA",
            "income": None,
            "registered_on": None,
        },
    )


def browse(client, acme, **params):
    return client.get(reverse("records:list", args=[acme.slug]), params)


@pytest.fixture
def viewer(client_for, vera):
    return client_for(vera)


def test_it_lists_the_organisations_records_only(viewer, acme, register):
    response = browse(viewer, acme)
    assert response.status_code == 200
    assert references(response) == ["REF-2", "REF-1", "REF-3", "GB-CHC-1234567"]
    assert b"Oxford Beacon Trust" not in response.content
    assert b"4 records" in response.content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("oxford", ["REF-1", "REF-3"]),
        ("oxf comm", ["REF-1"]),  # every word must start a word of the record
        ("OXFORD TRUST", ["REF-1"]),
        ("row", ["REF-3"]),
        ("1234567", ["GB-CHC-1234567"]),  # the number of a reference
        ("GB-CHC-123", ["GB-CHC-1234567"]),  # the start of a reference
        ("gb-chc-1234567", ["GB-CHC-1234567"]),  # a whole reference
        ("CHC-1234", ["GB-CHC-1234567"]),  # the end of a reference
        ("G-CHC-1234", []),  # a part before a hyphen is a whole word, not a prefix
        ("ls1", ["REF-2"]),  # a postcode's outward code
        ("OX1 2AB", ["REF-1"]),  # a whole postcode
        ("ox12ab", ["REF-1"]),  # a postcode typed without its space
        ("mary's", ["GB-CHC-1234567"]),
        ("nothing-like-this", []),
        ("'); DROP TABLE records_record; --", []),  # only letters and digits reach the query
        ("!!!", ["REF-2", "REF-1", "REF-3", "GB-CHC-1234567"]),  # no words: no search
    ],
)
def test_it_searches_name_reference_and_postcode(viewer, acme, register, query, expected):
    assert references(browse(viewer, acme, q=query)) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "registered"}, ["REF-1", "REF-3"]),
        ({"status": "merged"}, ["GB-CHC-1234567"]),
        ({"category": "Amateur sport"}, ["REF-3"]),
        ({"region": "South East"}, ["REF-1", "REF-3"]),
        ({"income_min": "1000"}, ["REF-1", "REF-3"]),
        ({"income_min": "1000", "income_max": "20000"}, ["REF-1"]),
        ({"income_max": "600"}, ["REF-2"]),
        ({"registered_on_after": "2000-01-01"}, ["REF-1", "REF-3"]),
        ({"registered_on_before": "1995-12-31"}, ["REF-2"]),
        ({"q": "oxford", "region": "South East", "income_max": "50000"}, ["REF-1"]),
    ],
)
def test_it_filters(viewer, acme, register, params, expected):
    assert references(browse(viewer, acme, **params)) == expected


def test_it_filters_amended_records(viewer, acme, register):
    Record.objects.filter(reference="REF-3").update(
        amendments={"name": {"source": "Oxford Rowing", "by": None, "reason": "typo"}}
    )
    assert references(browse(viewer, acme, amended="yes")) == ["REF-3"]
    assert references(browse(viewer, acme, amended="no")) == ["REF-2", "REF-1", "GB-CHC-1234567"]


def test_it_filters_records_with_unresolved_conflicts(viewer, acme, register):
    conflicted, resolved = register[1], register[2]
    Conflict.objects.create(organisation=acme, record=conflicted, field="name", new_source="x")
    Conflict.objects.create(
        organisation=acme,
        record=resolved,
        field="name",
        new_source="y",
        resolved_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        resolution="keep",
    )
    response = browse(viewer, acme, conflicts="yes")
    assert references(response) == ["REF-2"]
    assert "Unresolved import conflict" in response.content.decode()
    assert references(browse(viewer, acme, conflicts="no")) == ["REF-1", "REF-3", "GB-CHC-1234567"]


def test_it_shows_each_status_as_a_badge_of_its_own(viewer, acme, register):
    content = browse(viewer, acme, sort="reference").content.decode()
    badges = re.findall(r'<span class="badge badge-(\w+)">([^<]+)</span>', content)
    # The class names the status (the stylesheet colours .badge-registered and so on).
    assert badges == [
        ("merged", "Merged"),
        ("registered", "Registered"),
        ("removed", "Removed"),
        ("registered", "Registered"),
    ]


def test_it_leaves_deleted_records_out(viewer, acme, register):
    Record.objects.filter(reference="REF-2").update(
        deleted_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    assert "REF-2" not in references(browse(viewer, acme))


def test_it_shows_filter_errors_beside_the_field(viewer, acme, register):
    response = browse(viewer, acme, status="bogus", income_min="lots")
    assert response.status_code == 200
    content = response.content.decode()
    assert "Select a valid choice" in content
    assert "Enter a number" in content


@pytest.mark.parametrize("bound", ["1e999999999", "-1e13"])
def test_it_refuses_a_range_past_what_the_register_can_hold(viewer, acme, register, bound):
    # Once a 500: PostgreSQL's numeric overflowed comparing the records with the bound.
    url = reverse("records:list", args=[acme.slug])
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = viewer.get(url, {"income_min": bound}, **headers)
        assert response.status_code == 200
        assert "Ensure this value is" in response.content.decode()


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["REF-2", "REF-1", "REF-3", "GB-CHC-1234567"]),
        ("-name", ["GB-CHC-1234567", "REF-3", "REF-1", "REF-2"]),
        ("income", ["REF-2", "REF-1", "REF-3", "GB-CHC-1234567"]),
        ("-income", ["GB-CHC-1234567", "REF-3", "REF-1", "REF-2"]),
        ("registered_on", ["REF-2", "REF-1", "REF-3", "GB-CHC-1234567"]),
        ("reference", ["GB-CHC-1234567", "REF-1", "REF-2", "REF-3"]),
    ],
)
def test_it_sorts(viewer, acme, register, sort, expected):
    assert references(browse(viewer, acme, sort=sort)) == expected


@pytest.mark.parametrize(
    "sort", ["name", "-name", "income", "-income", "registered_on", "-registered_on", "reference"]
)
def test_it_sorts_search_results_as_it_sorts_everything(viewer, acme, register, make_records, sort):
    # While searching, the page sorts the matches itself rather than walk the column's
    # index (records/tables.py): the order must be the same, blanks included.
    make_records(acme, {"reference": "REF-9", "name": "Oxford Blank Trust"})
    found = set(references(browse(viewer, acme, q="oxford")))
    assert len(found) > 1
    everything = references(browse(viewer, acme, sort=sort))
    assert references(browse(viewer, acme, q="oxford", sort=sort)) == [
        reference for reference in everything if reference in found
    ]


def test_it_sorts_ties_stably_across_pages(viewer, acme, make_records):
    make_records(acme, *({"reference": f"REF-T{i:02d}", "name": "Same Name"} for i in range(30)))
    first = references(browse(viewer, acme, sort="name", per_page=25))
    second = references(browse(viewer, acme, sort="name", per_page=25, page=2))
    assert first + second == [f"REF-T{i:02d}" for i in range(30)]
    backwards = references(browse(viewer, acme, sort="-name", per_page=25))
    assert backwards == [f"REF-T{i:02d}" for i in range(29, 4, -1)]


def test_a_deep_page_finds_its_keys_first_and_shows_the_same_rows(
    viewer, acme, make_records, monkeypatch
):
    make_records(acme, *({"reference": f"REF-D{i:02d}", "name": f"N{i % 7}"} for i in range(60)))

    def pages(deep_from):
        monkeypatch.setattr(selectors, "DEEP_PAGE_OFFSET", deep_from)
        with CaptureQueriesContext(connection) as queries:
            shown = [
                references(browse(viewer, acme, sort=sort, per_page=25, page=page))
                for sort in ("name", "-income")
                for page in (2, 3, 9)  # 9 is past the end: the last page
            ]
        return shown, [q["sql"] for q in queries]

    plain, plain_sql = pages(10_000)
    keyed, keyed_sql = pages(25)
    assert keyed == plain
    assert [len(refs) for refs in keyed] == [25, 10, 10] * 2
    keys_first = re.compile(r'"id" IN \(SELECT \w+\."id" AS "pk" .* LIMIT 25 OFFSET 25\)')
    assert not any(keys_first.search(sql) for sql in plain_sql)
    assert any(keys_first.search(sql) for sql in keyed_sql)


def test_it_ignores_sorting_by_a_column_without_an_index(viewer, acme, register):
    assert references(browse(viewer, acme, sort="status")) == references(browse(viewer, acme))


def test_it_answers_htmx_with_the_fragment_and_a_browser_with_the_page(viewer, acme, register):
    url = reverse("records:list", args=[acme.slug])
    page = viewer.get(url, {"q": "oxford"})
    assert b"<html" in page.content and b'id="browse"' in page.content

    results = viewer.get(
        url, {"q": "oxford"}, headers={"HX-Request": "true", "HX-Target": "record-results"}
    )
    content = results.content.decode()
    assert "<html" not in content and 'id="browse"' not in content
    assert content.lstrip().startswith('<div id="record-results"')
    assert references(results) == ["REF-1", "REF-3"]

    browse_region = viewer.get(
        url, {"sort": "-name"}, headers={"HX-Request": "true", "HX-Target": "browse"}
    )
    assert browse_region.content.decode().lstrip().startswith('<div id="browse"')
    assert 'name="sort" value="-name"' in browse_region.content.decode()

    for response in (page, results, browse_region):
        assert "HX-Request" in response["Vary"]


def test_it_answers_a_history_restore_with_the_whole_page(viewer, acme, register):
    response = viewer.get(
        reverse("records:list", args=[acme.slug]),
        {"q": "oxford"},
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert b"<html" in response.content


def test_it_keeps_the_view_in_links(viewer, acme, register):
    content = browse(viewer, acme, q="oxford", status="registered").content.decode()
    # Sort links keep the filter and drop the page.
    assert re.search(r'href="\?[^"]*q=oxford[^"]*sort=-?reference', content) or re.search(
        r'href="\?[^"]*sort=-?reference[^"]*q=oxford', content
    )
    assert 'hx-push-url="true"' in content


def test_it_counts_up_to_the_cap_and_estimates_beyond(viewer, acme, make_records, monkeypatch):
    make_records(acme, *({"reference": f"REF-C{i:02d}", "region": "Wales"} for i in range(12)))
    monkeypatch.setattr(CappedPaginator, "cap", 10)
    response = browse(viewer, acme, per_page=25, region="Wales", status="registered")
    content = response.content.decode()
    assert "About" in content and "(estimate)" in content
    # Pages stop at the cap: ten rows reachable, on one page.
    assert len(references(response)) == 10
    assert 'rel="next"' not in content


def most_match(monkeypatch, most: bool) -> None:
    """Have every search taken for one the planner expects most records to match, or none.

    (On a dozen rows its estimates say little: on a million they say which.)"""
    monkeypatch.setattr(selectors, "DENSE_SEARCH", 0 if most else 2)


def test_a_search_is_counted_exactly_past_the_cap_in_the_query_that_pages_it(
    viewer, acme, beacon, make_records, monkeypatch, bob
):
    make_records(acme, *({"reference": f"REF-C{i:02d}", "name": "Capped"} for i in range(12)))
    (gone,) = make_records(acme, {"reference": "REF-GONE", "name": "Capped"})
    record_delete(record=gone, reason="Duplicate", by=bob)
    make_records(beacon, *({"reference": f"REF-B{i:02d}", "name": "Capped"} for i in range(3)))
    most_match(monkeypatch, False)
    monkeypatch.setattr(CappedPaginator, "cap", 10)
    with CaptureQueriesContext(connection) as queries:
        response = browse(viewer, acme, per_page=25, q="capped")
    content = response.content.decode()
    # Only this organisation's live records, and exact: the search reads every match.
    assert re.search(r"12 records\s*<span class=\"hint\"[^>]*>\(the first 10 paged\)", content)
    assert "(estimate)" not in content and "About" not in content
    assert references(response) == [f"REF-C{i:02d}" for i in range(10)]
    assert 'rel="next"' not in content
    reads = [q["sql"] for q in queries if "records_record" in q["sql"]]
    plans = [sql for sql in reads if sql.startswith("EXPLAIN")]
    assert len(plans) == 1  # how many the search matches, against the register
    assert len(reads) == 3  # …then the page's ids and the total, then those records
    assert not any("COUNT(*) FROM (" in sql for sql in reads)
    # Planned without parallel workers (see search_page).
    statements = [q["sql"] for q in queries]
    paged = next(i for i, sql in enumerate(statements) if sql.startswith("WITH matches"))
    assert statements[paged - 1] == "SET LOCAL max_parallel_workers_per_gather = 0"


def test_a_search_matching_most_records_walks_the_sort_order(
    viewer, acme, make_records, monkeypatch
):
    make_records(
        acme, *({"reference": f"REF-C{i:02d}", "name": f"Capped {i:02d}"} for i in range(12))
    )
    make_records(acme, {"reference": "REF-O", "name": "Other"})
    most_match(monkeypatch, True)
    monkeypatch.setattr(CappedPaginator, "cap", 10)
    with CaptureQueriesContext(connection) as queries:
        response = browse(viewer, acme, per_page=25, q="capped")
    # Paged like any filter: the name index walked, matches counted up to the cap.
    assert references(response) == [f"REF-C{i:02d}" for i in range(10)]
    assert "About" in response.content.decode()
    reads = [q["sql"] for q in queries if "records_record" in q["sql"]]
    assert not any("WITH matches" in sql for sql in reads)
    page = next(sql for sql in reads if "LIMIT 10" in sql and "COUNT" not in sql)
    assert 'ORDER BY "records_record"."name" ASC' in page


@pytest.mark.parametrize("most", [False, True])
@pytest.mark.parametrize("sort", ["name", "-name", "-income", "reference"])
def test_paging_through_a_search_shows_every_match_once_in_order(
    viewer, acme, make_records, monkeypatch, sort, most
):
    make_records(
        acme,
        *(
            {"reference": f"REF-S{i:02d}", "name": "Same Name", "income": Decimal(i % 4)}
            for i in range(30)
        ),
        *({"reference": f"REF-OTHER-{i}", "name": "Another"} for i in range(5)),
    )
    most_match(monkeypatch, most)
    everything = references(browse(viewer, acme, sort=sort, per_page=100))
    first = browse(viewer, acme, q="same", sort=sort, per_page=25)
    second = browse(viewer, acme, q="same", sort=sort, per_page=25, page=2)
    found = [r for r in everything if not r.startswith("REF-OTHER")]
    assert references(first) + references(second) == found
    assert "30 records" in first.content.decode()
    # Past the last page: the last page, as without a search.
    assert references(browse(viewer, acme, q="same", sort=sort, per_page=25, page=9)) == (
        references(second)
    )


def test_the_whole_register_past_the_cap_is_counted_exactly(
    viewer, acme, beacon, make_records, monkeypatch
):
    make_records(acme, *({"reference": f"REF-C{i:02d}"} for i in range(12)))
    make_records(beacon, *({"reference": f"REF-B{i:02d}"} for i in range(5)))
    monkeypatch.setattr(CappedPaginator, "cap", 10)
    response = browse(viewer, acme, per_page=25)
    content = response.content.decode()
    # From the facet counts PostgreSQL keeps: exact, and only this organisation's.
    assert re.search(r"12 records\s*<span class=\"hint\"[^>]*>\(the first 10 paged\)", content)
    assert "(estimate)" not in content and "About" not in content
    assert len(references(response)) == 10


def test_one_facet_value_is_counted_from_the_facet_counts(
    viewer, acme, beacon, make_records, monkeypatch
):
    make_records(acme, *({"reference": f"REF-C{i:02d}", "region": "Wales"} for i in range(12)))
    make_records(acme, {"reference": "REF-L", "region": "London"})
    make_records(beacon, *({"reference": f"REF-B{i:02d}", "region": "Wales"} for i in range(5)))
    monkeypatch.setattr(CappedPaginator, "cap", 10)
    # As the filter form sends it: every other field there, and empty.
    fields = "q status category income_min income_max registered_on_after registered_on_before"
    empty = dict.fromkeys([*fields.split(), "amended", "conflicts"], "")
    with CaptureQueriesContext(connection) as queries:
        response = browse(viewer, acme, per_page=25, region="Wales", **empty)
    content = response.content.decode()
    assert re.search(r"12 records\s*<span class=\"hint\"[^>]*>\(the first 10 paged\)", content)
    assert "(estimate)" not in content and "About" not in content
    assert len(references(response)) == 10
    # No count of the records: the page's own rows are the only read of the table.
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"] and "records_record" in q["sql"]]
    assert counts == []


@pytest.mark.parametrize(
    "query",
    [
        {"region": "Wales", "conflicts": "no"},  # two filters: no facet count knows it
        {"region": "Wales", "status": "nowhere"},  # an invalid choice: the records count
    ],
)
def test_other_filters_past_the_cap_are_estimates(viewer, acme, make_records, monkeypatch, query):
    make_records(
        acme,
        *({"reference": f"REF-C{i:02d}", "region": "Wales"} for i in range(12)),
    )
    monkeypatch.setattr(CappedPaginator, "cap", 10)
    content = browse(viewer, acme, per_page=25, **query).content.decode()
    assert "About" in content and "(estimate)" in content


def test_it_counts_facets_for_the_current_filter(viewer, acme, register):
    response = viewer.get(reverse("records:facets", args=[acme.slug]), {"region": "South East"})
    content = response.content.decode()
    assert re.search(r"Registered</span>\s*<span class=\"facet-count\">2<", content)
    assert re.search(r"Education/training</span>\s*<span class=\"facet-count\">1<", content)
    assert "Removed" not in content
    # Each value links to the list with the filter applied (or, if applied, removed).
    assert "status=registered" in content
    assert 'aria-current="true" title="Remove this filter"' in content


def test_it_offers_the_registers_values_as_filter_choices(viewer, acme, register):
    content = browse(viewer, acme).content.decode()
    assert '<option value="Amateur sport">' in content
    assert '<option value="Yorkshire and the Humber">' in content


def test_it_shows_every_field_and_the_extra_columns_on_the_record_page(viewer, acme, make_records):
    (record,) = make_records(
        acme,
        {
            "reference": "REF-X",
            "name": "Bath Lido Trust",
            "postcode": "BA2 4AA",
            "income": Decimal("1234.5"),
            "website": "www.bathlido.org.uk",
            "extra": {"charity_type": "CIO", "trustees": "7"},
        },
    )
    response = viewer.get(reverse("records:detail", args=[acme.slug, record.pk]))
    content = response.content.decode()
    for text in (
        "Bath Lido Trust",
        "REF-X",
        "BA2 4AA",
        "£1,234.50",
        "charity_type",
        "CIO",
        "trustees",
        'href="https://www.bathlido.org.uk"',
    ):
        assert text in content


# -- query counts -------------------------------------------------------------------
#
# list page:  1 session, 2 user, 3 the user's memberships with their organisations
#             (the gate's, and the switcher's), 4 capped count, 5 page of rows (with
#             the open-conflict flag), 6 register (filter menus); searching, 4 is the
#             page's ids and total, and before it the live records (facet counts) and
#             the planner's estimate of the matches say how to page it: 8
# results fragment: 1-5 (no filter form, so no register)
# record:     1 session, 2 user, 3 memberships, 4 record, 5 register, 6 open conflicts


@pytest.mark.parametrize("per_page", [25, 100])
def test_it_lists_in_a_constant_number_of_queries(
    viewer, acme, make_records, django_assert_num_queries, per_page
):
    make_records(
        acme, *({"reference": f"REF-Q{i:03d}", "category": f"C{i % 7}"} for i in range(120))
    )
    with django_assert_num_queries(8):
        response = browse(viewer, acme, per_page=per_page, q="charity", category="C1")
    assert len(references(response)) == 17  # i % 7 == 1 for 17 of the 120
    with django_assert_num_queries(5):
        viewer.get(
            reverse("records:list", args=[acme.slug]),
            {"per_page": per_page},
            headers={"HX-Request": "true", "HX-Target": "record-results"},
        )


def test_it_shows_a_record_in_a_constant_number_of_queries(
    viewer, acme, make_records, django_assert_num_queries
):
    (record,) = make_records(acme, {"extra": {f"k{i}": str(i) for i in range(20)}})
    Conflict.objects.create(organisation=acme, record=record, field="name", new_source="x")
    with django_assert_num_queries(6):
        response = viewer.get(reverse("records:detail", args=[acme.slug, record.pk]))
    assert response.status_code == 200


def test_it_counts_facets_in_one_query(viewer, acme, register, django_assert_num_queries):
    # session, user, membership, the facet counts
    with django_assert_num_queries(4):
        viewer.get(reverse("records:facets", args=[acme.slug]), {"q": "oxford"})
