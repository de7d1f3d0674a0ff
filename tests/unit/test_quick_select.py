"""records.widgets.QuickSelect writes what Django's Select writes through its templates."""

from __future__ import annotations

import pytest
from django import forms
from django.utils.safestring import mark_safe

from records.filters import ChangeFilterSet, ConflictFilterSet, RecordFilterSet
from records.models import Conflict, Record
from records.widgets import QuickSelect

CHOICES = [
    ("", "Any region"),
    ("London", "London"),
    ("Tyne & Wear", 'Tyne & "Wear" <north>'),
    (7, 7),
    ("safe", mark_safe("<b>already markup</b>")),
    ("Abroad", [("fr", "France"), ("de", "Deutschland & Co")]),
]


@pytest.mark.parametrize(
    ("value", "attrs"),
    [
        (None, None),
        ("", {"id": "id_region"}),
        ("Tyne & Wear", {"id": "id_region", "class": "menu <x>"}),
        ("de", {"id": "id_region", "required": True, "disabled": False, "data-n": 3}),
        (7, {"aria-label": 'Say "which"'}),
    ],
)
def test_it_writes_what_djangos_templates_write(value, attrs):
    ours = QuickSelect(choices=CHOICES).render("region", value, attrs=attrs)
    theirs = forms.Select(choices=CHOICES).render("region", value, attrs=attrs)
    assert ours == theirs
    assert "Tyne &amp; &quot;Wear&quot; &lt;north&gt;" in ours  # escaped…
    assert "<b>already markup</b>" in ours  # …but for markup


def test_the_filter_forms_menus_are_quick(acme):
    forms_ = [
        RecordFilterSet(None, queryset=Record.objects.none(), organisation=acme).form,
        ChangeFilterSet(None, queryset=Record.history.none(), organisation=acme).form,
        ConflictFilterSet(None, queryset=Conflict.objects.none()).form,
    ]
    selects = [
        field.widget
        for form in forms_
        for field in form.fields.values()
        if isinstance(field.widget, forms.Select)
    ]
    assert len(selects) >= 9
    assert all(isinstance(widget, QuickSelect) for widget in selects)
