"""records/templatetags/table_rows.py writes each row the way django-tables2 would, itself.

Every table of the app is rendered twice, once through the tag's own cell functions and
once with django-tables2's own row markup (its table.html, without the whitespace
between tags) and every cell from BoundRow.get_cell: the pages must be the same to the
byte, and the tag must not have fallen back to django-tables2 on the way.
"""

from __future__ import annotations

import re

import pytest
from django.template import Template
from django_tables2.rows import BoundRow

from records.services.amend import record_delete
from records.templatetags import table_rows
from tests.helpers import amend, load, records, row

TOKENS = re.compile(r'("x-csrftoken": "|name="csrfmiddlewaretoken" value=")[^"]+')

# The row of django_tables2/table.html (block table.tbody.row).
STOCK_ROW = Template(
    "{% load l10n %}<tr {{ row.attrs.as_html }}>{% for column, cell in row.items %}"
    "<td {{ column.attrs.td.as_html }}>{% if column.localize == None %}{{ cell }}"
    "{% else %}{% if column.localize %}{{ cell|localize }}{% else %}{{ cell|unlocalize }}"
    "{% endif %}{% endif %}</td>{% endfor %}</tr>"
)


def stock_row(context, row) -> str:
    return STOCK_ROW.render(context.new({"row": row}))


# Markup and plain text that must be escaped: in links, and in plain cells.
ESCAPED = {"name": "Ünïcode & <Sons>", "category": "Arts & <culture>", "region": '"Tyne" & Wear'}


@pytest.fixture
def register(acme, alice, bob):
    load(
        acme,
        alice,
        [
            row("A-1"),
            row("A-2", **ESCAPED),
            row("A-3", income="", registered_on="", region=""),  # empty cells: the default
            row("A-4"),
        ],
    )
    by_reference = records(acme)
    amend(by_reference["A-1"], bob, name="Amended by hand")
    # The source moves under the amendment: an unresolved conflict.
    load(acme, alice, [row("A-1", name="Source moved"), row("A-2", postcode="N1 9GU", **ESCAPED)])
    record_delete(record=by_reference["A-4"], reason="Closed & <gone>", by=bob)
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

    monkeypatch.setattr(table_rows, "render_row", stock_row)
    theirs = _page(client, url)
    assert slow_cells  # every cell went through django-tables2 this time
    assert "<td" in ours
    assert ours == theirs
    if path == "records/":
        assert "Arts &amp; &lt;culture&gt;" in ours and "&quot;Tyne&quot; &amp; Wear" in ours
