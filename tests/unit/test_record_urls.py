"""records.tables.record_url: what reverse() gives, reversed once per table."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.urls import reverse

from records.tables import record_url


@pytest.mark.parametrize("slug", ["acme", "2147000001", "2147000002", "a-1"])
@pytest.mark.parametrize("viewname", ["records:detail", "records:edit", "records:history"])
def test_it_is_the_reversed_url_of_each_record(slug, viewname):
    table = SimpleNamespace(org_slug=slug)
    for pk in (1, 42, 2_147_000_001, 9_876_543):
        expected = reverse(viewname, kwargs={"org_slug": slug, "pk": pk})
        assert record_url(table, viewname, pk=pk) == expected


@pytest.mark.parametrize("slug", ["acme", "2147000001", "2147000002"])
def test_it_puts_each_id_in_its_place(slug):
    table = SimpleNamespace(org_slug=slug)
    for pk, history_id in ((1, 2), (2, 1), (2_147_000_002, 2_147_000_001), (5, 5)):
        expected = reverse(
            "records:undo", kwargs={"org_slug": slug, "pk": pk, "history_id": history_id}
        )
        assert record_url(table, "records:undo", pk=pk, history_id=history_id) == expected


def test_it_reverses_once_per_table_and_view(monkeypatch):
    calls = []

    def counting(*args, **kwargs):
        calls.append(args)
        return reverse(*args, **kwargs)

    monkeypatch.setattr("records.tables.reverse", counting)
    table = SimpleNamespace(org_slug="acme")
    for pk in range(25):
        record_url(table, "records:detail", pk=pk)
        record_url(table, "records:edit", pk=pk)
    assert len(calls) == 2
