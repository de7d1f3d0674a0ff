"""Escape the cells a spreadsheet would run as formulas, and undo that escaping.

Exports prefix such cells with an apostrophe (the OWASP advice against CSV injection) and
imports strip it again, so that exporting a register and importing the file back changes
nothing.
"""

from __future__ import annotations

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# The characters that turn a cell starting with "+", "-" or "@" into something a spreadsheet
# runs: a call, a reference to another sheet, or a DDE command. Without them such a cell is
# a phone number or a negative amount.
_FORMULA_MARKERS = ("(", "!", "|")


def _needs_apostrophe(text: str) -> bool:
    """Tell whether `text`, after any apostrophes it starts with, starts like a formula."""
    # Apostrophes already in front are counted in, so that "'=x" (an escaped formula typed
    # by someone) is escaped once more and comes back unchanged from unescape_formula.
    return text.lstrip("'").startswith(FORMULA_PREFIXES)


def escape_formula(text: str) -> str:
    """Prefix an apostrophe to text that a spreadsheet would read as a formula."""
    return "'" + text if _needs_apostrophe(text) else text


def unescape_formula(text: str) -> str:
    """Drop the apostrophe that escape_formula added, and nothing else."""
    return text[1:] if text.startswith("'") and _needs_apostrophe(text) else text


def looks_like_formula(text: str) -> bool:
    """Tell whether an unescaped cell is a formula that a spreadsheet would run."""
    if text.startswith("="):
        return True
    return text.startswith(("+", "-", "@")) and any(mark in text for mark in _FORMULA_MARKERS)
