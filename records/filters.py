"""Filters of the records browser, derived from the core field declaration."""

from __future__ import annotations

from decimal import Decimal

import django_filters
from django import forms
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property

from records import history, selectors
from records.fields import CORE_FIELDS, FACET_FIELDS, Kind
from records.models import Channel, Conflict, Record
from records.widgets import QuickSelect

FACET_NAMES = frozenset(core.name for core in FACET_FIELDS)

YES_NO = [("", "Any"), ("yes", "Yes"), ("no", "No")]


class MenuFilter(django_filters.ChoiceFilter):
    """A choice filter drawn as a menu without Django's per-option templates."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", QuickSelect)
        super().__init__(*args, **kwargs)


class YesNoFilter(MenuFilter):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", YES_NO[1:])
        kwargs.setdefault("empty_label", "Any")
        super().__init__(*args, **kwargs)


class DecimalRangeField(django_filters.fields.RangeField):
    """From and to, each within what the column can hold.

    A bound past it ("1e999999999") would overflow PostgreSQL's numeric: an error page
    instead of a message beside the field.
    """

    def __init__(self, *args, limit: Decimal, **kwargs):
        bounds = {"min_value": -limit, "max_value": limit}
        fields = (forms.DecimalField(**bounds), forms.DecimalField(**bounds))
        super().__init__(fields, *args, **kwargs)


class DecimalRangeFilter(django_filters.RangeFilter):
    field_class = DecimalRangeField


class CompactRangeWidget(django_filters.widgets.RangeWidget):
    """Two inputs side by side ("from – to") with placeholders that say which is which."""

    template_name = "widgets/range.html"

    def __init__(self, attrs=None, *, placeholders=("Min", "Max")):
        super().__init__(attrs)
        for widget, placeholder in zip(self.widgets, placeholders, strict=True):
            widget.attrs["placeholder"] = placeholder
            widget.attrs["aria-label"] = placeholder


class CompactDateRangeWidget(CompactRangeWidget):
    suffixes = ["after", "before"]

    def __init__(self, attrs=None):
        super().__init__({**(attrs or {}), "type": "date"}, placeholders=("From", "To"))


class RecordFilterSet(django_filters.FilterSet):
    """Search, a filter per facet field, a range per ranged field, and the amendment flags.

    The facet and range filters are built from CORE_FIELDS, so a new core field is
    filterable without editing this class. Choice menus of free-text fields come from
    the facet counts the database keeps (selectors.facet_values), never from a scan of
    the records.
    """

    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": "Name, reference or postcode",
                "autocomplete": "off",
            }
        ),
    )
    amended = YesNoFilter(method="filter_amended", label="Amended by hand")
    conflicts = YesNoFilter(method="filter_conflicts", label="Unresolved conflicts")

    class Meta:
        model = Record
        fields: list[str] = []

    def __init__(self, data=None, queryset=None, *, organisation, paged=False, **kwargs):
        self.organisation = organisation
        # For a page of the browser, a search is paged as its size suits (records_search).
        self.paged = paged
        super().__init__(data, queryset, **kwargs)
        for core in CORE_FIELDS:
            if core.facet:
                self.filters[core.name] = MenuFilter(
                    field_name=core.name,
                    label=core.label,
                    empty_label=f"Any {core.label.lower()}",
                    choices=self._choices(core),
                )
            elif core.ranged and core.kind is Kind.DECIMAL:
                self.filters[core.name] = DecimalRangeFilter(
                    field_name=core.name,
                    label=core.label,
                    widget=CompactRangeWidget(attrs={"inputmode": "decimal"}),
                    limit=Decimal(10) ** (core.max_digits - core.decimal_places),
                )
            elif core.ranged and core.kind is Kind.DATE:
                self.filters[core.name] = django_filters.DateFromToRangeFilter(
                    field_name=core.name,
                    label=core.label,
                    widget=CompactDateRangeWidget(),
                )
        # Keep the flags last, after the fields, in the form.
        for name in ("amended", "conflicts"):
            self.filters[name] = self.filters.pop(name)

    @cached_property
    def facet_values(self) -> dict[str, list[str]]:
        return selectors.facet_values(self.organisation)

    @property
    def is_filtered(self) -> bool:
        """Whether the filters narrow the records at all (an empty or invalid one does not).

        Compared as SQL, so that a new kind of filter needs nothing here.
        """
        return str(self.qs.query) != str(self.queryset.query)

    def known_total(self) -> int | None:
        """How many records match, where the facet counts know it without a count of the
        records (no filter, or one facet field's value alone); else None."""
        if not self.is_filtered:
            return selectors.kept_count(self.organisation)
        if not self.form.is_valid():
            return None
        chosen = {name: value for name, value in self.form.cleaned_data.items() if value}
        if len(chosen) != 1:
            return None
        ((name, value),) = chosen.items()
        if name not in FACET_NAMES or value == self.filters[name].null_value:
            return None
        return selectors.kept_count(self.organisation, name, value)

    def _choices(self, core):
        def choices():
            if core.choices is not None:
                return core.choices.choices
            return [(v, v) for v in self.facet_values.get(core.name, [])]

        return choices

    def filter_search(self, queryset, name, value):
        return selectors.records_search(
            queryset, value, organisation=self.organisation if self.paged else None
        )

    def filter_amended(self, queryset, name, value):
        return selectors.records_amended(queryset, value == "yes")

    def filter_conflicts(self, queryset, name, value):
        return selectors.records_with_conflicts(queryset, value == "yes")


class ConflictFilterSet(django_filters.FilterSet):
    """Filters of the conflicts page (unresolved conflicts are few next to records)."""

    q = django_filters.CharFilter(
        method="filter_search",
        label="Record",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Reference or name"}),
    )
    field = MenuFilter(
        choices=[(core.name, core.label) for core in CORE_FIELDS], empty_label="Any field"
    )
    import_run = django_filters.NumberFilter(
        label="Import run", widget=forms.NumberInput(attrs={"placeholder": "#"})
    )

    class Meta:
        model = Conflict
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(
            models.Q(record__reference__istartswith=value) | models.Q(record__name__icontains=value)
        )


class ChangeFilterSet(django_filters.FilterSet):
    """Filters of the changes page, each served by an index (see HISTORY_INDEXES).

    Who: history_org_user. Channel: history_org_channel. Operation: history_changeset.
    Field changed: the GIN index on changed_fields. Date: history_org_recent. Reason:
    records.history.changes_reason_search. Menus are built lazily: a fragment that does
    not render the form does not query them.
    """

    reason = django_filters.CharFilter(
        method="filter_reason",
        label="Reason",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Words in the reason", "autocomplete": "off"}
        ),
    )
    date = django_filters.DateFromToRangeFilter(
        field_name="history_date", label="Date", widget=CompactDateRangeWidget()
    )
    channel = MenuFilter(
        field_name="channel", label="Channel", choices=Channel.choices, empty_label="Any channel"
    )

    class Meta:
        model = Record.history.model
        fields: list[str] = []

    def __init__(self, data=None, queryset=None, *, organisation, **kwargs):
        self.organisation = organisation
        self.operations: list[int] = []  # the operations a reason search matched
        super().__init__(data, queryset, **kwargs)
        # Each menu is read once: checking a chosen value and drawing the menu both ask.
        self.filters["user"] = MenuFilter(
            field_name="history_user",
            label="Who",
            empty_label="Anyone",
            choices=lambda: self._people,
        )
        self.filters["field"] = MenuFilter(
            method="filter_field",
            label="Field changed",
            empty_label="Any field",
            choices=lambda: self._fields,
        )
        self.filters["changeset"] = MenuFilter(
            field_name="changeset",
            label="Operation",
            empty_label="Any operation",
            choices=lambda: self._operations,
        )
        order = ("reason", "user", "date", "field", "channel", "changeset")
        self.filters = {name: self.filters[name] for name in order}
        for filter_ in self.filters.values():
            filter_.parent = self  # set by FilterSet.__init__ only for declared filters

    @cached_property
    def _menus(self) -> selectors.ChangeMenus:
        wanted = (self.data or {}).get("changeset", "")
        # An operation asked for by id (at most 18 digits: any such number fits a bigint).
        operation = (
            int(wanted) if wanted.isascii() and wanted.isdigit() and len(wanted) < 19 else None
        )
        return selectors.change_menus(self.organisation, operation=operation)

    @cached_property
    def _people(self) -> list[tuple[str, str]]:
        """Members of the organisation, and the data team (superusers), who may change it."""
        return [(str(person.pk), str(person)) for person in self._menus.people]

    @cached_property
    def _fields(self) -> list[tuple[str, str]]:
        return [
            *((core.name, core.label) for core in CORE_FIELDS),
            ("deleted_at", "Restored (after a deletion)"),
            *((f"extra.{key}", key) for key in self._menus.extra_columns),
        ]

    @cached_property
    def _operations(self) -> list[tuple[str, str]]:
        """The latest operations, and the one asked for if it is older."""
        return [
            (str(c.pk), f"#{c.pk} {c} ({timezone.localtime(c.created_at):%-d %b %Y})")
            for c in self._menus.operations
        ]

    def filter_reason(self, queryset, name, value):
        queryset, self.operations = history.changes_reason_search(
            queryset, self.organisation, value
        )
        return queryset

    def filter_field(self, queryset, name, value):
        # `changed_fields @> ARRAY[value]`: the GIN index history_changed_fields.
        return queryset.filter(changed_fields__contains=[value])
