"""records.tables.record_url: what reverse() gives, reversed once per table."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.urls import reverse

from records.tables import record_url


@pytest.mark.parametrize("slug", ["acme", "2147000001", "a-1"])
@pytest.mark.parametrize("viewname", ["records:detail", "records:edit", "records:history"])
def test_it_is_the_reversed_url_of_each_record(slug, viewname):
    table = SimpleNamespace(org_slug=slug)
    for pk in (1, 42, 2_147_000_001, 9_876_543):
        expected = reverse(viewname, kwargs={"org_slug": slug, "pk": pk})
        assert record_url(table, viewname, pk) == expected


def test_it_reverses_once_per_table_and_view(monkeypatch):
    calls = []

    def counting(*args, **kwargs):
        calls.append(args)
        return reverse(*args, **kwargs)

    monkeypatch.setattr("records.tables.reverse", counting)
    table = SimpleNamespace(org_slug="acme")
    for pk in range(25):
        record_url(table, "records:detail", pk)
        record_url(table, "records:edit", pk)
    assert len(calls) == 2
