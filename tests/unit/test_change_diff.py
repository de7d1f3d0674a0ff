"""records/templatetags/change_diff.py: a history row's diff as people read it."""

from __future__ import annotations

from records.history import ChangeLine
from records.templatetags.change_diff import change_diff_html


def line(key, old="", new="", *, kind="field", label=None) -> ChangeLine:
    return ChangeLine(key=key, label=label or key, old=old, new=new, kind=kind)


def test_each_field_reads_old_to_new_escaped_and_empty_values_say_so():
    html = change_diff_html([line("name", "Old & <Co>", "New"), line("region", "", "Wales")])
    assert html == (
        '<ul class="diff">'
        '<li class="diff-field"><span class="diff-label">name</span> '
        '<del class="diff-old">Old &amp; &lt;Co&gt;</del> '
        '<span class="diff-arrow" aria-label="changed to">→</span> '
        '<ins class="diff-new">New</ins></li>'
        '<li class="diff-field"><span class="diff-label">region</span> '
        '<del class="diff-old">(empty)</del> '
        '<span class="diff-arrow" aria-label="changed to">→</span> '
        '<ins class="diff-new">Wales</ins></li>'
        "</ul>"
    )


def test_a_deletion_is_named_without_values():
    html = change_diff_html([line("deleted_at", "", "2026-01-01", kind="deleted", label="Deleted")])
    assert html == (
        '<ul class="diff"><li class="diff-deleted">'
        '<span class="diff-label">Deleted</span></li></ul>'
    )


def test_undoable_fields_link_to_undoing_them_alone():
    lines = [line("name", "a", "b"), line("extra.trustees & co", "1", "2", kind="extra")]
    html = change_diff_html(
        lines, undo_url="/o/acme/records/1/undo/9/", undoable={"extra.trustees & co"}
    )
    assert html.count("diff-undo") == 1
    link = '<a class="diff-undo" href="/o/acme/records/1/undo/9/?field=extra.trustees%20%26%20co">'
    assert f"{link}undo</a></li>" in html
    assert "diff-undo" not in change_diff_html(lines, undoable={"name"})  # no URL, no link


def test_no_lines():
    assert change_diff_html([]) == '<ul class="diff"><li class="muted">No field changed.</li></ul>'
