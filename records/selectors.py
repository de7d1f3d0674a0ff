"""Reads of the register, shared by views, exports and commands.

Every function takes the organisation and starts from `Record.objects.for_organisation`:
no read of records leaves the organisation's scope.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.db.models import CharField, Exists, F, OrderBy, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Concat, NullIf, Trim
from django.utils.functional import cached_property

from accounts.models import Organisation, User
from records.fields import FACET_FIELDS
from records.models import SEARCH_DOCUMENT, Changeset, Conflict, Record, Register

# Counting every match exactly is a scan of up to a million rows on every page. Counts
# are exact up to this many; beyond it the page shows the planner's estimate, and the
# pages on offer stop here (sort the other way, or narrow the filter, to reach the rest).
COUNT_CAP = 10_000
# Pages starting this many rows down find their rows' keys before their rows
# (CappedPaginator._deep_page).
DEEP_PAGE_OFFSET = 1_000

_SEARCH_TOKEN = re.compile(r"[^\W_]+")


def records_for(organisation: Organisation) -> QuerySet[Record]:
    """Return the organisation's live (not deleted) records."""
    return Record.objects.for_organisation(organisation).live()


def register_for(organisation: Organisation) -> Register:
    """The organisation's Register, or an empty one (unsaved) if nothing has written it yet:
    pages only read it, and a GET writes nothing."""
    return Register.objects.filter(organisation=organisation).first() or Register(
        organisation=organisation
    )


@dataclass(frozen=True)
class ChangeMenus:
    """The changes page's menus: who, the register's extra columns, the latest operations."""

    people: list[User]
    extra_columns: list[str]
    operations: list[Changeset]


# Read together: each menu a query of its own cost the page a query's overhead three times.
_CHANGE_MENUS_SQL = """
    SELECT
      (SELECT coalesce(json_agg(json_build_array(u.id, u.first_name, u.last_name, u.username)
                                ORDER BY u.first_name, u.last_name, u.username), '[]')
         FROM accounts_user u
        WHERE u.is_superuser OR u.id IN (SELECT m.user_id FROM accounts_membership m
                                          WHERE m.organisation_id = %(organisation)s)),
      (SELECT r.extra_columns FROM records_register r WHERE r.organisation_id = %(organisation)s),
      (SELECT coalesce(json_agg(json_build_array(c.id, c.kind, c.summary, c.created_at)
                                ORDER BY c.created_at DESC, c.id DESC), '[]')
         FROM ((SELECT id, kind, summary, created_at FROM records_changeset
                 WHERE organisation_id = %(organisation)s
                 ORDER BY created_at DESC LIMIT %(latest)s)
               UNION
               SELECT id, kind, summary, created_at FROM records_changeset
                WHERE organisation_id = %(organisation)s AND id = %(operation)s) AS c)
"""


def change_menus(
    organisation: Organisation, *, latest: int = 50, operation: int | None = None
) -> ChangeMenus:
    """Who may change the register (its members and the data team), its extra columns, and
    its `latest` operations newest first (and `operation`, if it is older), in one query."""
    with connection.cursor() as cursor:
        cursor.execute(
            _CHANGE_MENUS_SQL,
            {"organisation": organisation.pk, "latest": latest, "operation": operation},
        )
        # json (not jsonb) arrives decoded.
        people, extra_columns, operations = cursor.fetchone()
    return ChangeMenus(
        people=[
            User(pk=pk, first_name=first, last_name=last, username=username)
            for pk, first, last, username in people
        ],
        extra_columns=extra_columns or [],
        operations=[
            Changeset(
                pk=pk,
                kind=kind,
                summary=summary,
                created_at=dt.datetime.fromisoformat(created_at),
            )
            for pk, kind, summary, created_at in operations
        ],
    )


def search_query(text: str) -> SearchQuery | None:
    """Return a prefix query matching records whose words start with each word typed.

    "oxf comm" finds "Oxford Community Trust"; "GB-CHC-12" finds references starting so;
    "SW1A1AA" finds the postcode "SW1A 1AA". Only letters and digits reach to_tsquery, so
    no input can make the query invalid.

    Within a word typed with punctuation ("GB-CHC-12", "mary's"), the parts before the
    last were typed whole: they must be whole words of the record, and only the last is
    a prefix. As prefixes, "gb" and "chc" would also match every "gb-chc-…" the parser
    keeps of a hyphenated reference, a million different words to gather: 60 ms for one
    reference, against 0.3 ms.
    """
    terms = []
    for word in text.casefold().split():
        parts = [part[:60] for part in _SEARCH_TOKEN.findall(word)]
        if parts:
            terms += [*parts[:-1], f"{parts[-1]}:*"]
    if not terms:
        return None
    return SearchQuery(" & ".join(terms[:8]), search_type="raw", config="simple")


# The annotation records_search filters on; its presence tells a queryset is searched.
SEARCHED = "search_document"

# A search the planner expects to match at least this share of the live register is
# paged like any other filter (see records_search).
DENSE_SEARCH = 0.5


def records_search(
    queryset: QuerySet[Record], text: str, *, organisation: Organisation | None = None
) -> QuerySet[Record]:
    """The records matching a search, marked as searched (is_searched).

    A searched page finds every match through the search index and sorts them, since
    walking the sort order's index and testing each row is slow when matches cluster
    in that order (records.tables._order_matches). A search matching most of the
    register ("c" matches every "GB-CHC-…" reference) would sort a million rows that
    way, when walking the index finds its page in the first rows: given the
    organisation (for a page), a search the planner expects to match most of its live
    records is not marked, and is paged like any other filter.
    """
    query = search_query(text)
    if query is None:
        return queryset
    # The same expression as the GIN index records_search, so the planner uses it.
    searched = queryset.annotate(**{SEARCHED: SEARCH_DOCUMENT}).filter(**{SEARCHED: query})
    if organisation is not None:
        live = kept_count(organisation)
        if live and estimated_count(searched) >= DENSE_SEARCH * live:
            return queryset.alias(search_match=SEARCH_DOCUMENT).filter(search_match=query)
    return searched


def is_searched(queryset: QuerySet[Record]) -> bool:
    """Whether a queryset is a search that pages by sorting its matches."""
    return SEARCHED in queryset.query.annotations


def with_open_conflicts(queryset: QuerySet[Record]) -> QuerySet[Record]:
    """Annotate `has_conflicts` (served by the partial unique index on open conflicts)."""
    open_conflicts = Conflict.objects.filter(record=OuterRef("pk"), resolved_at__isnull=True)
    return queryset.annotate(has_conflicts=Exists(open_conflicts))


def records_with_conflicts(queryset: QuerySet[Record], wanted: bool) -> QuerySet[Record]:
    open_conflicts = Conflict.objects.filter(record=OuterRef("pk"), resolved_at__isnull=True)
    return queryset.filter(Exists(open_conflicts) if wanted else ~Exists(open_conflicts))


def records_amended(queryset: QuerySet[Record], wanted: bool) -> QuerySet[Record]:
    # Matches the partial index records_amended (amendments <> '{}').
    return queryset.exclude(amendments={}) if wanted else queryset.filter(amendments={})


@dataclass(frozen=True)
class Facet:
    field: str
    label: str
    counts: list[tuple[str, str, int]]  # (value, label, count), largest first


def record_facets(queryset: QuerySet[Record]) -> list[Facet]:
    """Count the filtered records per value of each facet field, in one scan.

    The scan counts each combination of the facet values (a few hundred), which
    PostgreSQL splits between parallel workers; GROUPING SETS then adds those up per
    field. (GROUPING SETS straight over the rows cannot run in parallel: 30% slower.)
    It is a scan of the matching rows (up to a million), so the page loads it after the
    table, never before.
    """
    names = [core.name for core in FACET_FIELDS]
    compiler = queryset.order_by().values(*names).query.get_compiler(using=queryset.db)
    where_sql, params = compiler.as_sql()
    columns = ", ".join(names)
    grouping = ", ".join(f"({name})" for name in names)
    sql = (
        f"SELECT {columns}, GROUPING({columns}), sum(n)::bigint FROM ("
        f"SELECT {columns}, count(*) AS n FROM ({where_sql}) AS matching GROUP BY {columns}"
        f") AS combinations GROUP BY GROUPING SETS ({grouping})"
    )
    # GROUPING() has a bit set for each column a row is *not* grouped by; the one clear
    # bit (from the left) says which facet the row counts.
    width = len(names)
    counts: dict[str, list[tuple[str, int]]] = {name: [] for name in names}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            *values, bits, count = row
            index = next(i for i in range(width) if not bits & (1 << (width - 1 - i)))
            counts[names[index]].append((values[index], count))
    return _facets(counts)


def _kept_counts(organisation: Organisation) -> list[tuple[str, str, int]]:
    """(field, value, live records) from the counts the database keeps (FacetCount): a
    few hundred rows instead of a scan of the register. Ordered by field and value."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT field, value, sum(count)::bigint FROM records_facetcount "
            "WHERE organisation_id = %s GROUP BY field, value HAVING sum(count) > 0 "
            "ORDER BY field, value",
            [organisation.pk],
        )
        return cursor.fetchall()


def register_facets(organisation: Organisation) -> list[Facet]:
    """The facets of all the organisation's live records."""
    counts: dict[str, list[tuple[str, int]]] = {core.name: [] for core in FACET_FIELDS}
    for field, value, count in _kept_counts(organisation):
        if field in counts:
            counts[field].append((value, count))
    return _facets(counts)


def facet_values(organisation: Organisation) -> dict[str, list[str]]:
    """The values some live record has, of each free-text facet field (category, region):
    the filter menus' options and the bulk-edit bar's suggestions."""
    values: dict[str, list[str]] = {core.name: [] for core in FACET_FIELDS if not core.choices}
    for field, value, _ in _kept_counts(organisation):
        if field in values and value:
            values[field].append(value)
    return values


def _facets(counts: dict[str, list[tuple[str, int]]]) -> list[Facet]:
    facets = []
    for core in FACET_FIELDS:
        labels = dict(core.choices.choices) if core.choices else {}
        ordered = sorted(counts[core.name], key=lambda item: (-item[1], item[0]))
        facets.append(
            Facet(
                field=core.name,
                label=core.label,
                counts=[(value, labels.get(value, value) or "(blank)", n) for value, n in ordered],
            )
        )
    return facets


def kept_count(organisation: Organisation, field: str = "status", value: str | None = None) -> int:
    """How many live records have `value` of a facet field, from the facet counts; with no
    value, how many live records there are (each has one value of each facet field)."""
    sql = (
        "SELECT coalesce(sum(count), 0)::bigint FROM records_facetcount "
        "WHERE organisation_id = %s AND field = %s"
    )
    params: list = [organisation.pk, field]
    if value is not None:
        sql += " AND value = %s"
        params.append(value)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def estimated_count(queryset: QuerySet[Record]) -> int:
    """Return the planner's estimate of the rows a queryset matches (no scan)."""
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


@dataclass(frozen=True)
class SearchPage:
    total: int  # every match, counted exactly
    ids: list[int]  # the page's records, in order


def search_page(queryset: QuerySet[Record], *, offset: int, limit: int) -> SearchPage | None:
    """One page of a search's matches and how many there are, from one pass over them.

    A search finds its matches through the search index and sorts them all (the sort
    order's index is hidden from it: records.tables._order_matches), so the page query
    reads every match anyway; counting them apart (up to the cap) read them a second
    time, a third of a broad search's time. Here the matches' ids and sort keys are
    kept once, counted, and the page's ids taken from them; the caller fetches those
    records. None for an ordering this cannot restate (the caller pages as usual).
    """
    keys: dict[str, object] = {}
    order = []
    for position, term in enumerate(queryset.query.order_by):
        if isinstance(term, str) and term.lstrip("-").isidentifier():
            expression, descending, nulls = F(term.lstrip("-")), term.startswith("-"), ""
        elif isinstance(term, OrderBy):
            expression, descending = term.expression, term.descending
            nulls = " NULLS FIRST" if term.nulls_first else " NULLS LAST" if term.nulls_last else ""
        else:
            return None
        keys[f"sort_{position}"] = expression
        order.append(f"sort_{position} {'DESC' if descending else 'ASC'}{nulls}")
    if not order:
        return None
    matches = queryset.order_by().annotate(**keys).values("id", *keys)
    sql, params = matches.query.sql_with_params()
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # Without parallel workers: they hand every match to the leader through shared
        # memory, which cost more than reading them ("trust", 59,000 matches: 66 → 52 ms
        # on an idle machine; more under load, where the workers take others' cores).
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        cursor.execute(
            f"WITH matches AS MATERIALIZED ({sql}) "
            "SELECT (SELECT count(*) FROM matches), "
            f"ARRAY(SELECT id FROM matches ORDER BY {', '.join(order)} LIMIT %s OFFSET %s)",
            [*params, limit, offset],
        )
        total, ids = cursor.fetchone()
    return SearchPage(total=total, ids=ids)


class CappedPaginator(Paginator):
    """A paginator that counts up to COUNT_CAP rows and estimates beyond.

    `count` is what pages are computed from (never more than the cap); `total` is what
    the page shows: exact below the cap, the planner's estimate above it. Where the
    caller knows the exact number of matches cheaply (`known_total`: the unfiltered
    register, or one facet value, from the facet counts), nothing is counted at all.
    A search's page and its exact total come from one query (search_page); a page far
    down finds its rows' keys before its rows (_deep_page).
    """

    cap = COUNT_CAP

    def __init__(self, *args, known_total: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.known_total = known_total

    @cached_property
    def paged(self):
        """What the pages are cut from (django-tables2 pages BoundRows around it)."""
        rows = self.object_list
        return rows.data.data if hasattr(rows, "data") else rows

    @cached_property
    def queryset(self) -> QuerySet:
        """What is counted."""
        return self.paged

    @cached_property
    def pages_searched(self) -> bool:
        """Whether pages come with their total from search_page (decided at the first)."""
        searched = isinstance(self.paged, QuerySet) and is_searched(self.paged)
        return searched and self.known_total is None

    def page(self, number):
        wanted = int(number) if str(number).isdigit() else 0
        if wanted < 1:
            return super().page(number)  # PageNotAnInteger, EmptyPage
        if not self.pages_searched:
            deep = (wanted - 1) * self.per_page >= DEEP_PAGE_OFFSET
            if deep and isinstance(self.paged, QuerySet) and self.paged.ordered:
                return self._deep_page(wanted)
            return super().page(number)
        queryset = self.paged
        offset = (wanted - 1) * self.per_page
        limit = max(0, min(self.per_page, self.cap - offset))  # pages stop at the cap
        found = search_page(queryset, offset=offset, limit=limit)
        if found is None:
            self.pages_searched = False
            return super().page(number)
        self.known_total = found.total
        # Past the last page (or the cap) this raises EmptyPage, and django-tables2 asks
        # for the last page: one more query.
        number = self.validate_number(wanted)
        return self._page_of(queryset.filter(pk__in=found.ids), number)

    def _deep_page(self, wanted: int):
        """A page far down: its rows' keys found first, then only those rows fetched.

        Sliced at an offset, the page's own query would join (its select_related) and
        read every row it skips: 15 ms for the changes page's 400th page, where reading
        the 10,000 keys it skips takes 2 ms.
        """
        number = self.validate_number(wanted)  # past the end: EmptyPage, as before
        offset = (number - 1) * self.per_page
        keys = self.paged.values("pk")[offset : offset + self.per_page]
        return self._page_of(self.paged.filter(pk__in=keys), number)

    def _page_of(self, queryset: QuerySet, number: int):
        """Page `number`, holding exactly the rows of `queryset`."""
        rows = self.object_list
        if hasattr(rows, "data"):  # django-tables2 pages its BoundRows: the page too
            return self._get_page(type(rows)(data=list(queryset), table=rows.table), number, self)
        return self._get_page(queryset, number, self)

    @cached_property
    def _capped(self) -> int:
        if self.known_total is not None:
            return min(self.known_total, self.cap + 1)
        # Count primary keys without the ordering: the page's ORDER BY would make
        # PostgreSQL sort the capped subquery before counting it.
        return self.queryset.order_by().values("pk")[: self.cap + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self._capped, self.cap)

    @cached_property
    def is_capped(self) -> bool:
        return self._capped > self.cap

    @cached_property
    def is_estimate(self) -> bool:
        return self.is_capped and self.known_total is None

    @cached_property
    def total(self) -> int:
        if self.known_total is not None:
            return self.known_total
        if not self.is_capped:
            return self._capped
        return max(estimated_count(self.queryset), self.cap + 1)


def conflicts_open(organisation: Organisation) -> QuerySet[Conflict]:
    """The organisation's unresolved conflicts (the partial index conflict_open)."""
    return Conflict.objects.filter(organisation=organisation, resolved_at__isnull=True)


def deleted_records(organisation: Organisation) -> QuerySet[Record]:
    """Return the organisation's deleted records, latest first, with who deleted them and why.

    Ordered to walk the partial index records_deleted (organisation, deleted_at); who
    and why come from each record's latest deletion in its history (index
    history_record), as subqueries of the same query.
    """
    deletions = Record.history.model.objects.filter(id=OuterRef("pk"), history_type="-").order_by(
        "-history_date"
    )
    author = Coalesce(
        NullIf(
            Trim(
                Concat(
                    "history_user__first_name",
                    Value(" "),
                    "history_user__last_name",
                    output_field=CharField(),
                )
            ),
            Value(""),
        ),
        "history_user__username",
        "db_user",
    )
    return (
        Record.objects.for_organisation(organisation)
        .deleted()
        .annotate(
            deleted_reason=Subquery(deletions.values("history_change_reason")[:1]),
            deleted_by=Subquery(deletions.annotate(author=author).values("author")[:1]),
        )
        .order_by("-deleted_at", "-id")
    )
