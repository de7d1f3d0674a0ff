"""records/templatetags/table_rows.py writes each cell the way django-tables2 would, itself.

Every table of the app is rendered twice, once through the tag's own cell functions and
once with every cell left to django-tables2 (BoundRow.get_cell): the pages must be the
same to the byte, and the tag must not have fallen back to django-tables2 on the way.
"""

from __future__ import annotations

import re

import pytest
from django_tables2.rows import BoundRow

from records.services.amend import record_delete
from records.templatetags import table_rows
from tests.helpers import amend, load, records, row

TOKENS = re.compile(r'("x-csrftoken": "|name="csrfmiddlewaretoken" value=")[^"]+')


@pytest.fixture
def register(acme, alice, bob):
    load(
        acme,
        alice,
        [
            row("A-1"),
            row("A-2", name="Ünïcode & <Sons>"),
            row("A-3", income="", registered_on="", region=""),  # empty cells: the default
            row("A-4"),
        ],
    )
    by_reference = records(acme)
    amend(by_reference["A-1"], bob, name="Amended by hand")
    # The source moves under the amendment: an unresolved conflict.
    load(acme, alice, [row("A-1", name="Source moved"), row("A-2", postcode="N1 9GU")])
    record_delete(record=by_reference["A-4"], reason="Closed", by=bob)
    return acme


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return TOKENS.sub(r"\1", response.content.decode())


@pytest.mark.parametrize(
    ("path", "person"),
    [
        ("records/", "vera"),  # a viewer's table: no boxes, no Edit buttons
        ("records/", "bob"),
        ("records/?sort=-income", "bob"),
        ("records/?amended=yes", "vera"),
        ("records/?conflicts=yes", "vera"),
        ("records/deleted/", "bob"),
        ("conflicts/", "bob"),
        ("changes/", "alice"),
    ],
)
def test_cells_are_django_tables2s_own(register, client_for, request, monkeypatch, path, person):
    client = client_for(request.getfixturevalue(person))
    url = f"/o/{register.slug}/{path}"
    slow_cells = []
    get_cell = BoundRow.get_cell

    def counted(self, name):
        slow_cells.append(name)
        return get_cell(self, name)

    monkeypatch.setattr(BoundRow, "get_cell", counted)
    ours = _page(client, url)
    assert slow_cells == []

    monkeypatch.setattr(table_rows, "_cell_function", lambda table, bound_column: None)
    theirs = _page(client, url)
    assert slow_cells  # every cell went through django-tables2 this time
    assert "<td" in ours
    assert ours == theirs
