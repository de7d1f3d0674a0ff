"""The records table, its columns derived from the core field declaration."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import re
from collections.abc import Callable

import django_tables2 as tables
from django.core.paginator import EmptyPage, PageNotAnInteger
from django.db.models import F, Func
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.dates import MONTHS_3
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django_tables2 import utils as tables2_utils

from records import history, selectors
from records.escaping import format_html
from records.fields import CORE_FIELDS, Kind
from records.models import Conflict, Record
from records.templatetags.change_diff import change_diff_html


class RequestConfig(tables.RequestConfig):
    """django-tables2's RequestConfig, keeping the page size the view chose.

    Its own takes ?per_page= over the view's choice, any number: ?per_page=-1 was an
    error page, and ?per_page=100000 would have drawn a hundred thousand rows. The sort
    and the page number come from the request as before (past the end: the last page).
    """

    def configure(self, table):
        table.request = self.request
        order_by = self.request.GET.getlist(table.prefixed_order_by_field)
        if order_by:
            table.order_by = order_by
        options = dict(self.paginate)
        with contextlib.suppress(KeyError, ValueError):
            options["page"] = int(self.request.GET[table.prefixed_page_field])
        try:
            table.paginate(**options)
        except PageNotAnInteger:
            table.page = table.paginator.page(1)
        except EmptyPage:
            table.page = table.paginator.page(table.paginator.num_pages)
        return table


# Only the columns with an index behind them (records/models.py) can be sorted: sorting
# a million rows by an unindexed column is a full scan on every page. Each sorts by
# the column and then by id, so paging through equal values is stable.
SORTABLE = ("reference", "name", "income", "registered_on")


def remember_render_signatures() -> None:
    """Make django-tables2 inspect each render method's parameters once, not once per cell.

    For every cell it asks inspect.signature which of record, value, table… the column's
    render method takes: about 40 µs, a third of the records browser's server time. The
    parameters of a function never change, so they are remembered per code object
    (functions that wrap another, whose parameters are the wrapped one's, are asked
    every time, as before).
    """
    if getattr(tables2_utils.signature, "remembered", False):
        return
    inspect_signature = tables2_utils.signature
    remembered: dict[tuple, tuple] = {}

    @functools.wraps(inspect_signature)
    def signature(fn):
        function = getattr(fn, "__func__", fn)
        code = getattr(function, "__code__", None)
        if code is None or hasattr(function, "__wrapped__"):
            return inspect_signature(fn)
        key = (code, hasattr(fn, "__self__"))
        if key not in remembered:
            remembered[key] = inspect_signature(fn)
        return remembered[key]

    signature.remembered = True
    tables2_utils.signature = signature


@functools.cache
def _month_abbreviation(language: str | None, month: int) -> str:
    """dateformat's `M` in the active language (which the cache's key names)."""
    return str(MONTHS_3[month]).title()


# The `date` filter's letters a table uses, as dateformat writes them.
_DATE_LETTERS: dict[str, Callable[[dt.date], str]] = {
    "j": lambda d: str(d.day),
    "d": lambda d: f"{d.day:02d}",
    "n": lambda d: str(d.month),
    "m": lambda d: f"{d.month:02d}",
    "M": lambda d: _month_abbreviation(get_language(), d.month),
    "Y": lambda d: f"{d.year:04d}",
}
_TIME_LETTERS: dict[str, Callable[[dt.datetime], str]] = {
    "H": lambda d: f"{d.hour:02d}",
    "i": lambda d: f"{d.minute:02d}",
    "s": lambda d: f"{d.second:02d}",
}
_LETTERS = _DATE_LETTERS | _TIME_LETTERS


def date_formatter(format: str) -> Callable[[dt.date], str]:
    """A function writing a date (or a datetime, as it is) as dateformat.format(value, format).

    dateformat splits the format and looks its letters up again for every value: 6.6%
    of the changes page's server time for its 25 dates (py-spy). Formats of the letters
    above and other characters are split once; any other letter, or an escape, is left
    to dateformat.
    """
    pieces = re.split(r"([a-zA-Z])", format)
    letters = set(pieces[1::2])
    if "\\" in format or not letters <= _LETTERS.keys():
        return lambda value: dateformat.format(value, format)
    timed = bool(letters & _TIME_LETTERS.keys())
    parts = [_LETTERS[piece] if i % 2 else piece for i, piece in enumerate(pieces) if piece]

    def write(value: dt.date) -> str:
        if timed and not isinstance(value, dt.datetime):
            return dateformat.format(value, format)  # which says why it cannot
        return "".join(part if isinstance(part, str) else part(value) for part in parts)

    return write


class WhenColumn(tables.Column):
    """A date or a moment (in the current time zone) as `format` says.

    django-tables2's DateColumn and DateTimeColumn compile a small template for every
    cell; this formats it directly, the same way the `date` filter does.
    """

    def __init__(self, *args, format: str, **kwargs):
        self.write = date_formatter(format)
        super().__init__(*args, **kwargs)

    def render(self, value):
        if isinstance(value, dt.datetime):
            value = timezone.localtime(value)
        return self.write(value)


# Ids no register reaches, standing in for the ids in a reversed URL.
_STAND_IN = 2_147_000_001


def record_url(table, viewname: str, **ids: int) -> str:
    """reverse(viewname) for the table's organisation and a row's ids (pk=…), reversed
    once per table and view: from row to row only the ids change (a reverse() per cell
    was a tenth of the records browser's server time)."""
    urls = table.__dict__.setdefault("_record_urls", {})
    key = (viewname, *ids)
    if key not in urls:
        stand_ins = [str(_STAND_IN + i) for i in range(len(ids))]
        kwargs = {"org_slug": table.org_slug, **dict(zip(ids, map(int, stand_ins), strict=True))}
        # "/o/acme/records/<S0>/undo/<S1>/" -> the text around the ids
        pieces = re.split("/(" + "|".join(stand_ins) + ")/", reverse(viewname, kwargs=kwargs))
        urls[key] = pieces[0::2] if pieces[1::2] == stand_ins else None
    texts = urls[key]
    if texts is None:  # an id's stand-in is in the slug too: reverse every time
        return reverse(viewname, kwargs={"org_slug": table.org_slug, **ids})
    *before, tail = texts
    pairs = zip(before, ids.values(), strict=True)
    return "".join(f"{text}/{value}/" for text, value in pairs) + tail


class LinkColumn(tables.Column):
    """A column whose text links to the record's page."""

    def render(self, value, record, table):
        url = record_url(table, "records:detail", pk=record.pk)
        return format_html('<a href="{}">{}</a>', url, value)


class StatusColumn(tables.Column):
    def render(self, value, record):
        # `value` is the status's label (django-tables2 gives a field's choice label).
        return format_html('<span class="badge badge-{}">{}</span>', record.status, value)


class MoneyColumn(tables.Column):
    def render(self, value):
        return f"£{value:,.2f}"


CONFLICT_MARK = mark_safe(
    '<span class="flag flag-conflict" title="Unresolved import conflict">⚠</span>'
)


class FlagsColumn(tables.Column):
    """Marks for records amended by hand and records with unresolved conflicts."""

    empty_values = ()

    def render(self, record):
        marks = []
        if record.amendments:
            fields = ", ".join(sorted(record.amendments))
            marks.append(
                format_html(
                    '<span class="flag flag-amended" title="Amended by hand: {}">✎</span>', fields
                )
            )
        if getattr(record, "has_conflicts", False):
            marks.append(CONFLICT_MARK)
        return mark_safe("".join(marks))  # noqa: S308 - every part is escaped above


# Added to a column in ORDER BY, each leaves the order as it is but hides the column's
# index from the planner.
_UNINDEXED = {Kind.DECIMAL: "+ 0", Kind.DATE: "+ 0"}
_TEXT_UNINDEXED = "|| ''"


def _order_matches(core, queryset, is_descending):
    """While searching, sort the matches instead of walking this column's index.

    With an index in the page's order, PostgreSQL walks it and tests every row against
    the search until the page is full: quick when matches are spread evenly, but words
    cluster in a sort order (every "St Mary's Church" sorts under S), and "church"
    sorted by name walked 60% of the register first. Without that index it finds the
    matches through the search index and sorts them, in time that grows with the
    matches, not with the register. (A column's `order` in django-tables2.)
    """
    if not selectors.is_searched(queryset):
        return queryset, False
    value = Func(
        F(core.name),
        template=f"(%(expressions)s {_UNINDEXED.get(core.kind, _TEXT_UNINDEXED)})",
        output_field=Record._meta.get_field(core.name),
    )
    if is_descending:
        return queryset.order_by(value.desc(), "-id"), True
    return queryset.order_by(value.asc(), "id"), True


def _column(core) -> tables.Column:
    orderable = core.name in SORTABLE
    order_by = (core.name, "id")
    # A class per field, so that styles and tests do not count columns.
    numeric = core.kind is Kind.DECIMAL
    attrs = {
        "td": {"class": f"num col-{core.name}" if numeric else f"col-{core.name}"},
        "th": {"class": "num"} if numeric else {},
    }
    common = {"verbose_name": core.label, "orderable": orderable, "order_by": order_by}
    if core.name in ("reference", "name"):
        column = LinkColumn(attrs=attrs, **common)
    elif core.kind is Kind.CHOICE:
        column = StatusColumn(attrs=attrs, **common)
    elif numeric:
        column = MoneyColumn(attrs=attrs, **common)
    elif core.kind is Kind.DATE:
        column = WhenColumn(attrs=attrs, format="j M Y", **common)
    elif core.kind is Kind.URL:
        column = tables.URLColumn(verbose_name=core.label, orderable=False, attrs=attrs)
    else:
        column = tables.Column(attrs=attrs, **common)
    if orderable:
        column.order = functools.partial(_order_matches, core)
    return column


# Columns shown in the browser (the record page shows every field).
BROWSE_COLUMNS = (
    "reference",
    "name",
    "status",
    "category",
    "region",
    "postcode",
    "income",
    "registered_on",
)


# The inputs of the bulk-edit bar's <form id="bulk-edit"> live in the table's rows.
BULK_FORM_ID = "bulk-edit"


class EditColumn(tables.Column):
    """The button that turns a row into a form (the link opens the edit page without JS)."""

    empty_values = ()

    def render(self, record, table):
        url = record_url(table, "records:edit", pk=record.pk)
        return format_html(
            '<a class="button button-small" href="{}" hx-get="{}" hx-target="closest tr" '
            'aria-label="Edit {}">Edit</a>',
            url,
            url,
            record.reference,
        )


class RecordTable(tables.Table):
    """The browser's table; editors also get selection boxes and an inline Edit button."""

    select = tables.CheckBoxColumn(
        accessor="pk",
        verbose_name="Select",
        attrs={
            "td__input": {"name": "ids", "form": BULK_FORM_ID, "aria-label": "Select"},
            "th__input": {"data-select-all": "ids", "aria-label": "Select every row shown"},
            "td": {"class": "select"},
            "th": {"class": "select"},
        },
    )
    flags = FlagsColumn(verbose_name="", orderable=False, attrs={"td": {"class": "flags"}})
    edit = EditColumn(verbose_name="", orderable=False, attrs={"td": {"class": "row-actions"}})

    class Meta:
        model = Record
        fields: tuple[str, ...] = ()
        sequence = ("select", *BROWSE_COLUMNS, "flags", "edit")
        order_by = ("name",)
        empty_text = "No records match."
        attrs = {"class": "table records", "id": "records-table"}
        # The id an inline edit targets (hx-target="closest tr" sends it as HX-Target).
        row_attrs = {"id": lambda record: f"record-{record.pk}"}

    def __init__(self, *args, org_slug: str, can_edit: bool = False, **kwargs):
        self.org_slug = org_slug
        columns = [
            (core.name, _column(core)) for core in CORE_FIELDS if core.name in BROWSE_COLUMNS
        ]
        exclude = () if can_edit else ("select", "edit")
        super().__init__(*args, extra_columns=columns, exclude=exclude, **kwargs)


class DeletedRecordTable(tables.Table):
    """Deleted records, most recently deleted first, with who deleted them and why."""

    reference = LinkColumn(verbose_name="Reference", orderable=False)
    name = LinkColumn(verbose_name="Name", orderable=False)
    deleted_at = WhenColumn(verbose_name="Deleted", format="j M Y, H:i", orderable=False)
    deleted_by = tables.Column(verbose_name="By", orderable=False, default="—")
    deleted_reason = tables.Column(verbose_name="Reason", orderable=False, default="—")

    class Meta:
        empty_text = "No deleted records."
        attrs = {"class": "table records deleted", "id": "deleted-table"}

    def __init__(self, *args, org_slug: str, **kwargs):
        self.org_slug = org_slug
        super().__init__(*args, **kwargs)


class ConflictTable(tables.Table):
    """Unresolved conflicts; the boxes belong to the resolve form above the table."""

    selected = tables.TemplateColumn(
        '<input type="checkbox" name="selected" value="{{ record.pk }}" form="resolve-form" '
        'aria-label="Select this conflict">',
        verbose_name="",
        orderable=False,
        attrs={"td": {"class": "select"}},
    )
    record = tables.TemplateColumn(
        "<a href=\"{% url 'records:detail' table.org_slug record.record_id %}\">"
        "<code>{{ record.record.reference }}</code></a><br>{{ record.record.name }}",
        verbose_name="Record",
        order_by=("record__reference", "id"),
    )
    field = tables.Column(verbose_name="Field", order_by=("field", "id"))
    old_source = tables.Column(verbose_name="Source was", orderable=False)
    new_source = tables.Column(verbose_name="Source now", orderable=False)
    amended_value = tables.TemplateColumn(
        "<strong>{{ value|default:'(empty)' }}</strong><br><small class=\"muted\">by "
        "{{ record.amended_by|default:'someone' }}{% if record.amended_reason %}: "
        "“{{ record.amended_reason }}”{% endif %}</small>",
        verbose_name="Amendment kept",
        orderable=False,
    )
    import_run = tables.TemplateColumn(
        "{% if value %}<a href=\"{% url 'records:import_detail' table.org_slug value.pk %}\">"
        "#{{ value.pk }}</a>{% endif %}",
        verbose_name="Import",
        orderable=False,
    )
    created_at = WhenColumn(
        verbose_name="Found", format="j M Y, H:i", order_by=("created_at", "id")
    )

    class Meta:
        model = Conflict
        fields: tuple[str, ...] = ()
        sequence = (
            "selected",
            "record",
            "field",
            "old_source",
            "new_source",
            "amended_value",
            "import_run",
            "created_at",
        )
        order_by = ("-created_at",)
        empty_text = "No unresolved conflicts."
        attrs = {"class": "table conflicts", "id": "conflicts-table"}

    def __init__(self, *args, org_slug: str, **kwargs):
        self.org_slug = org_slug
        super().__init__(*args, **kwargs)

    def render_field(self, record):
        return record.field_label


class ChangeDiffColumn(tables.Column):
    """What a history row changed, field by field (old → new), from its own JSON."""

    empty_values = ()

    def render(self, record):
        lines = history.change_lines(history.entry_changes(record))
        if record.history_type == "+":
            return format_html(
                '<span class="muted">{} field{} set</span>', len(lines), pluralize(len(lines))
            )
        return change_diff_html(lines)


class ChangeRecordColumn(tables.Column):
    """The record as the row saw it, linking to that row in the record's timeline."""

    empty_values = ()

    def render(self, record, table):
        url = record_url(table, "records:history", pk=record.id)
        return format_html(
            '<a href="{}#entry-{}"><code>{}</code></a><br><span class="muted small">{}</span>',
            url,
            record.history_id,
            record.reference,
            record.name,
        )


class OperationColumn(tables.Column):
    """The operation a row belongs to, linking to the changes page filtered to it."""

    empty_values = ()

    def render(self, record, table):
        if record.changeset_id is None:
            return "—"
        query = f"?changeset={record.changeset_id}"
        return format_html(
            '<a href="{}" hx-get="{}" hx-target="closest [data-browse]" hx-push-url="true">{}</a>',
            query,
            query,
            record.changeset,
        )


class UndoColumn(tables.Column):
    empty_values = ()

    def render(self, record, table):
        if not history.undoable_fields(record):
            return ""
        url = record_url(table, "records:undo", pk=record.id, history_id=record.history_id)
        return format_html(
            '<a class="button button-small" href="{}" aria-label="Undo change {} of {}">Undo…</a>',
            url,
            record.history_id,
            record.reference,
        )


class ChangeTable(tables.Table):
    """Every change to an organisation's records, newest first.

    Everything shown comes from the history row itself (it snapshots the record) and two
    joins, its user and its changeset: no query per row.
    """

    when = WhenColumn(
        accessor="history_date",
        verbose_name="When",
        format="j M Y, H:i",
        # sort_date is history_date, aliased by records.history.changes_in_order
        # to steer the plan.
        order_by=("sort_date", "history_id"),
        attrs={"td": {"class": "nowrap"}},
    )
    record = ChangeRecordColumn(verbose_name="Record", orderable=False)
    action = tables.Column(verbose_name="Change", orderable=False, empty_values=())
    changes = ChangeDiffColumn(verbose_name="What changed", orderable=False)
    who = tables.Column(verbose_name="Who", orderable=False, empty_values=())
    channel = tables.Column(verbose_name="Channel", orderable=False)
    operation = OperationColumn(verbose_name="Operation", orderable=False)
    reason = tables.Column(verbose_name="Reason", orderable=False, empty_values=())
    undo = UndoColumn(verbose_name="", orderable=False, attrs={"td": {"class": "row-actions"}})

    class Meta:
        order_by = ("-when",)
        empty_text = "No changes match."
        attrs = {"class": "table changes", "id": "changes-table"}
        row_attrs = {"id": lambda record: f"change-{record.history_id}"}

    def __init__(self, *args, org_slug: str, **kwargs):
        self.org_slug = org_slug
        super().__init__(*args, **kwargs)

    def render_action(self, record):
        action = history.entry_action(record)
        return format_html('<span class="badge badge-change-{}">{}</span>', action.lower(), action)

    def render_who(self, record):
        return history.entry_author(record)

    def render_channel(self, value, record):
        # `value` is the channel's label (django-tables2 gives a field's choice label).
        return format_html('<span class="channel channel-{}">{}</span>', record.channel, value)

    def render_reason(self, record):
        return history.entry_reason(record) or "—"
