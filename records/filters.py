"""Filters of the records browser, derived from the core field declaration."""

from __future__ import annotations

import django_filters
from django import forms
from django.db import models
from django.utils.functional import cached_property

from records import selectors
from records.fields import CORE_FIELDS, Kind
from records.models import Conflict, Record

YES_NO = [("", "Any"), ("yes", "Yes"), ("no", "No")]


class YesNoFilter(django_filters.ChoiceFilter):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", YES_NO[1:])
        kwargs.setdefault("empty_label", "Any")
        super().__init__(*args, **kwargs)


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
    the organisation's Register (one row), never from a scan of the records.
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

    def __init__(self, data=None, queryset=None, *, organisation, **kwargs):
        self.organisation = organisation
        super().__init__(data, queryset, **kwargs)
        for core in CORE_FIELDS:
            if core.facet:
                self.filters[core.name] = django_filters.ChoiceFilter(
                    field_name=core.name,
                    label=core.label,
                    empty_label=f"Any {core.label.lower()}",
                    choices=self._choices(core),
                )
            elif core.ranged and core.kind is Kind.DECIMAL:
                self.filters[core.name] = django_filters.RangeFilter(
                    field_name=core.name,
                    label=core.label,
                    widget=CompactRangeWidget(attrs={"inputmode": "decimal"}),
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
    def register(self):
        return selectors.register_for(self.organisation)

    def _choices(self, core):
        def choices():
            if core.choices is not None:
                return core.choices.choices
            return [(v, v) for v in self.register.facet_values.get(core.name, [])]

        return choices

    def filter_search(self, queryset, name, value):
        return selectors.records_search(queryset, value)

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
    field = django_filters.ChoiceFilter(
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
