"""`{% change_diff lines %}`: what one history row changed, a line per field, old → new.

Written in Python rather than as a template: the changes page draws one for each of
its rows, and a template per row was a tenth of the page's server time.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from urllib.parse import quote

from django import template
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from records.escaping import format_html, format_html_join
from records.history import ChangeLine

register = template.Library()

# Lines that only name what happened to the record, with no old and new value.
_LABEL_ONLY = frozenset(("deleted", "restored", "amendment"))
_EMPTY = "(empty)"


def change_diff_html(
    lines: Iterable[ChangeLine], *, undo_url: str = "", undoable: Collection[str] = ()
) -> SafeString:
    """The <ul class="diff"> of a history row's lines; with `undo_url`, each undoable
    field links to undoing only that field (`?field=<key>`)."""
    items = []
    for line in lines:
        if line.kind in _LABEL_ONLY:
            text = format_html('<span class="diff-label">{}</span>', line.label)
        else:
            text = format_html(
                '<span class="diff-label">{}</span> <del class="diff-old">{}</del> '
                '<span class="diff-arrow" aria-label="changed to">→</span> '
                '<ins class="diff-new">{}</ins>',
                line.label,
                line.old or _EMPTY,
                line.new or _EMPTY,
            )
        if undo_url and line.key in undoable:
            text += format_html(
                ' <a class="diff-undo" href="{}?field={}">undo</a>', undo_url, quote(line.key)
            )
        items.append((line.kind, text))
    if not items:
        return mark_safe('<ul class="diff"><li class="muted">No field changed.</li></ul>')
    return format_html(
        '<ul class="diff">{}</ul>', format_html_join("", '<li class="diff-{}">{}</li>', items)
    )


@register.simple_tag(takes_context=True)
def change_diff(context, lines, undoable=None, entry=None) -> SafeString:
    """A history row's diff; given `undoable` (field keys) and the `entry`, with a link
    to undo each of those fields."""
    undo_url = ""
    if undoable and entry is not None:
        kwargs = {
            "org_slug": context["request"].organisation.slug,
            "pk": entry.id,
            "history_id": entry.history_id,
        }
        undo_url = reverse("records:undo", kwargs=kwargs)
    return change_diff_html(lines, undo_url=undo_url, undoable=undoable or ())
