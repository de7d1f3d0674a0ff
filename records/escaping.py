"""Escaping as templates do it, without Django's per-call checks for lazy strings.

Table cells and menu options are written in Python (records/templatetags/table_rows.py,
records/widgets.py); nearly every value there is markup already escaped or plain text.
"""

from __future__ import annotations

import html

from django.utils.html import conditional_escape
from django.utils.safestring import SafeData


def escaped(value) -> str:
    """What `{{ value }}` writes with autoescaping on: markup as it is, text escaped as
    Django's `escape` escapes it, anything else through `conditional_escape`."""
    if isinstance(value, SafeData):
        return value
    if isinstance(value, str):
        return html.escape(str(value))
    return conditional_escape(value)
