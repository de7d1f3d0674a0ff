"""The records table, its columns derived from the core field declaration."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from records.fields import CORE_FIELDS, Kind
from records.models import Conflict, Record

# Only the columns with an index behind them (records/models.py) can be sorted: sorting
# a million rows by an unindexed column is a full scan on every page. Each sorts by
# the column and then by id, so paging through equal values is stable.
SORTABLE = ("reference", "name", "income", "registered_on")


class LinkColumn(tables.Column):
    """A column whose text links to the record's page."""

    def render(self, value, record, table):
        url = reverse("records:detail", kwargs={"org_slug": table.org_slug, "pk": record.pk})
        return format_html('<a href="{}">{}</a>', url, value)


class StatusColumn(tables.Column):
    def render(self, value, record):
        return format_html(
            '<span class="badge badge-{}">{}</span>', value, record.get_status_display()
        )


class MoneyColumn(tables.Column):
    attrs = {"td": {"class": "num"}, "th": {"class": "num"}}

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


def _column(core) -> tables.Column:
    orderable = core.name in SORTABLE
    order_by = (core.name, "id")
    if core.name in ("reference", "name"):
        return LinkColumn(verbose_name=core.label, orderable=orderable, order_by=order_by)
    if core.kind is Kind.CHOICE:
        return StatusColumn(verbose_name=core.label, orderable=orderable, order_by=order_by)
    if core.kind is Kind.DECIMAL:
        return MoneyColumn(verbose_name=core.label, orderable=orderable, order_by=order_by)
    if core.kind is Kind.DATE:
        return tables.DateColumn(
            verbose_name=core.label, orderable=orderable, order_by=order_by, format="j M Y"
        )
    if core.kind is Kind.URL:
        return tables.URLColumn(verbose_name=core.label, orderable=False)
    return tables.Column(verbose_name=core.label, orderable=orderable, order_by=order_by)


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


class RecordTable(tables.Table):
    flags = FlagsColumn(verbose_name="", orderable=False, attrs={"td": {"class": "flags"}})

    class Meta:
        model = Record
        fields: tuple[str, ...] = ()
        sequence = (*BROWSE_COLUMNS, "flags")
        order_by = ("name",)
        empty_text = "No records match."
        attrs = {"class": "table records", "id": "records-table"}

    def __init__(self, *args, org_slug: str, **kwargs):
        self.org_slug = org_slug
        columns = [
            (core.name, _column(core)) for core in CORE_FIELDS if core.name in BROWSE_COLUMNS
        ]
        super().__init__(*args, extra_columns=columns, **kwargs)


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
    created_at = tables.DateTimeColumn(
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
