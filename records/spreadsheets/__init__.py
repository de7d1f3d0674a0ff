"""Read uploaded spreadsheets (CSV and XLSX) and escape the cells that would run as formulas."""

from __future__ import annotations

from records.spreadsheets.formulas import (
    FORMULA_PREFIXES,
    escape_formula,
    looks_like_formula,
    unescape_formula,
)
from records.spreadsheets.reading import ReadOptions, Sheet, SpreadsheetError, open_spreadsheet

__all__ = [
    "FORMULA_PREFIXES",
    "ReadOptions",
    "Sheet",
    "SpreadsheetError",
    "escape_formula",
    "looks_like_formula",
    "open_spreadsheet",
    "unescape_formula",
]
