"""XLSX in constant memory: PostgreSQL writes each row's XML, Python numbers the rows and zips.

An XLSX file is a zip of XML parts; all but one are a few hundred bytes. The worksheet's
rows come from one `COPY (SELECT '<row …>' || … ) TO STDOUT`: each cell's XML is built
in SQL (text escaped for XML and against formulas, numbers as numbers, dates as date
serials), so Python does per row no more than put in its number. The rows go to a
temporary file, then into the zip, whose entry sizes are then known: a zip made so
needs no ZIP64 extensions (which Excel is strict about) below 4 GB.

XlsxWriter's constant-memory mode writes the same kind of file and was measured at
about a third of the speed needed (14,000 rows/s on our benchmark machine, against
150,000 and more for this), and writes a text cell like "<r>…</r>" as raw rich-text
XML, which corrupts the file; it is still used by the tests to check our parts.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from typing import BinaryIO
from xml.sax.saxutils import quoteattr

from django.db import connections
from django.db.models import QuerySet

from records.services.exports.columns import CellKind, Column, cells_sql
from records.spreadsheets.reading import column_letter

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET_NAME = "Records"
# Excel's rows per sheet, the header's included.
MAX_ROWS = 1_048_576
# zlib's fastest level: 30% larger files than its default, in a third less time.
COMPRESS_LEVEL = 1

# Stands for the row's number in the XML that PostgreSQL writes: a control character,
# which cannot occur in a cell (they are all escaped as _xHHHH_ below).
ROW_MARK = "\x03"
_ROW_MARK = ROW_MARK.encode()

# Style indexes in STYLES below.
_HEADER_STYLE, _DATE_STYLE, _NUMBER_STYLE = 1, 2, 3

# Dates from here on are date cells (serial numbers counted from 1899-12-30). Earlier
# ones are written as ISO text: Excel has no dates before 1900, and its serials for
# January and February 1900 count a 29 February that never was.
_FIRST_SERIAL_DATE = "1900-03-01"

# The characters XML 1.0 cannot hold (PostgreSQL text never holds NUL), which Excel
# writes as _xHHHH_; a literal "_xHHHH_" in a cell becomes "_x005F_xHHHH_".
_UNWRITABLE = [*range(0x01, 0x09), 0x0B, 0x0C, 0x0D, *range(0x0E, 0x20), 0xFFFE, 0xFFFF]
# Cells that need more than &, < and >: unwritable characters, a literal "_xHHHH_", or
# XML white space at either end (kept only with xml:space="preserve"). \r is among the
# unwritable: an XML reader would turn it into \n.
_RARE_PATTERN = r"[\x01-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_|^[ \t\n]|[ \t\n]$"
# The same, over a row's text values joined by _SEPARATOR (a private-use character).
_SEPARATOR = "\ue000"
_ROW_RARE_PATTERN = (
    r"[\x01-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_|(^|\ue000)[ \t\n]|[ \t\n]($|\ue000)"
)

Progress = Callable[[int], None]


class TooManyRows(ValueError):
    """More rows than an Excel sheet holds."""


def export_xlsx(
    *,
    queryset: QuerySet,
    columns: Sequence[Column],
    out: BinaryIO,
    progress: Progress | None = None,
    compress_level: int = COMPRESS_LEVEL,
) -> int:
    """Write an XLSX of the queryset to a binary file; return the number of rows written.

    `progress`, if given, is called with the rows written so far, every 5,000 rows.
    Raises TooManyRows if the rows do not fit in one sheet.
    """
    with tempfile.TemporaryFile() as body:
        rows = _write_rows(queryset, columns, body, progress)
        if rows + 1 > MAX_ROWS:
            raise TooManyRows(
                f"{rows:,} rows do not fit in one Excel sheet (at most {MAX_ROWS - 1:,})."
            )
        _write_package(out, columns, body, rows=rows, compress_level=compress_level)
    return rows


def rows_sql(queryset: QuerySet, columns: Sequence[Column]) -> str:
    """The SELECT giving each row's <row> element, with ROW_MARK for its number."""
    values = [f"q.export_c{index}" for index in range(len(columns))]
    references = [column_letter(index) + ROW_MARK for index in range(len(columns))]
    plain, rare = [], []
    for value, reference, column in zip(values, references, columns, strict=True):
        plain.append(_cell_sql(value, reference, column.kind, rare=False))
        rare.append(_cell_sql(value, reference, column.kind, rare=True))
    cells = f"concat({', '.join(plain)})"
    texts = [v for v, column in zip(values, columns, strict=True) if column.kind is CellKind.TEXT]
    if texts:
        # One regular expression per row, over its text values joined by a character
        # that marks where each starts and ends, rather than one per cell: a third of
        # the time of the whole query. A value holding that character only ever sends
        # its row down the careful path, which is right for every cell.
        joined = f"concat_ws(chr({ord(_SEPARATOR)}), {', '.join(texts)})"
        cells = (
            f"CASE WHEN {joined} ~ '{_ROW_RARE_PATTERN}' "
            f"THEN concat({', '.join(rare)}) ELSE {cells} END"
        )
    inner = cells_sql(queryset, columns, dates_as_text=False)
    # The queryset's ORDER BY stays inside, where it keeps the subquery from being
    # merged into this SELECT, so that each value is computed once however often the
    # cells' SQL names it.
    return f"SELECT '<row r=\"{ROW_MARK}\">' || {cells} || '</row>' FROM ({inner}) AS q"


def _cell_sql(value: str, reference: str, kind: CellKind, *, rare: bool) -> str:
    """SQL for a cell's XML; NULL (left out by concat()) when the value is."""
    if kind is CellKind.NUMBER:
        return f"'<c r=\"{reference}\" s=\"{_NUMBER_STYLE}\"><v>' || {value} || '</v></c>'"
    text = f'<c r="{reference}" t="inlineStr"><is>'
    if kind is CellKind.DATE:
        serial = f"({value} - date '1899-12-30')"
        return (
            f"CASE WHEN {value} >= date '{_FIRST_SERIAL_DATE}' "
            f"THEN '<c r=\"{reference}\" s=\"{_DATE_STYLE}\"><v>' || {serial} || '</v></c>' "
            f"ELSE '{text}<t>' || to_char({value}, 'YYYY-MM-DD') || '</t></is></c>' END"
        )
    if rare:
        escaped = _xml_sql(_unwritable_sql(value))
        return f"'{text}<t xml:space=\"preserve\">' || {escaped} || '</t></is></c>'"
    return f"'{text}<t>' || {_xml_sql(value)} || '</t></is></c>'"


def _xml_sql(value: str) -> str:
    return f"replace(replace(replace({value}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;')"


def _unwritable_sql(value: str) -> str:
    sql = f"regexp_replace({value}, '_(x[0-9A-Fa-f]{{4}}_)', '_x005F_\\1', 'g')"
    for code in _UNWRITABLE:
        sql = f"replace({sql}, chr({code}), '_x{code:04X}_')"
    return sql


# COPY's text format escapes backslashes and a few control characters in what it sends.
_COPY_ESCAPE = re.compile(rb"\\(.)", re.DOTALL)
_COPY_UNESCAPED = {
    b"\\": b"\\",
    b"n": b"\n",
    b"t": b"\t",
    b"r": b"\r",
    b"b": b"\b",
    b"f": b"\f",
    b"v": b"\v",
}


def _copy_unescape(data: bytes) -> bytes:
    return _COPY_ESCAPE.sub(lambda match: _COPY_UNESCAPED[match.group(1)], data)


def _write_rows(
    queryset: QuerySet, columns: Sequence[Column], body: BinaryIO, progress: Progress | None
) -> int:
    """Write the <row> elements of the data rows to `body`; return how many."""
    copy_sql = f"COPY ({rows_sql(queryset, columns)}) TO STDOUT"
    rows = 0
    batch: list[bytes] = []
    with connections[queryset.db].cursor() as cursor, cursor.cursor.copy(copy_sql) as copy:
        for data in copy:
            rows += 1
            data = bytes(data)
            if b"\\" in data:  # a backslash, tab or line break in some cell
                data = _copy_unescape(data)
            # The header is row 1.
            batch.append(data.replace(_ROW_MARK, b"%d" % (rows + 1)))
            if len(batch) == 5000:
                body.write(b"".join(batch))
                batch.clear()
                if progress is not None:
                    progress(rows)
    body.write(b"".join(batch))
    if progress is not None:
        progress(rows)
    return rows


def _write_package(
    out: BinaryIO, columns: Sequence[Column], body: BinaryIO, *, rows: int, compress_level: int
) -> None:
    last = f"{column_letter(len(columns) - 1)}{rows + 1}"
    head = _sheet_head(columns, f"A1:{last}").encode()
    tail = (
        f'</sheetData><autoFilter ref="A1:{last}"/>'
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
        "</worksheet>"
    ).encode()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    parts = _static_parts(filter_range=f"{SHEET_NAME}!$A$1:${_dollar(last)}", now=now)
    size = len(head) + body.seek(0, 2) + len(tail)
    body.seek(0)
    with zipfile.ZipFile(
        out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compress_level
    ) as archive:
        for name, text in parts.items():
            archive.writestr(_entry(name, now), text, compresslevel=compress_level)
        # The size is known before writing, so ZIP64 extensions go in only if needed.
        with archive.open(
            "xl/worksheets/sheet1.xml", "w", force_zip64=size > zipfile.ZIP64_LIMIT
        ) as stream:
            stream.write(head)
            shutil.copyfileobj(body, stream, 1024 * 1024)
            stream.write(tail)


def _entry(name: str, now: dt.datetime) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(name, date_time=now.timetuple()[:6])
    entry.compress_type = zipfile.ZIP_DEFLATED
    entry.external_attr = 0o600 << 16
    return entry


def _dollar(reference: str) -> str:
    """ "L1001" → "L$1001" (the second half of an absolute reference)."""
    letters = reference.rstrip("0123456789")
    return f"{letters}${reference[len(letters) :]}"


def xml_text(text: str) -> str:
    """Return a <t> element holding `text`, escaped as the SQL above escapes cells."""
    rare = re.search(_RARE_PATTERN, text) is not None
    if rare:
        text = re.sub(r"_(x[0-9A-Fa-f]{4}_)", r"_x005F_\1", text)
        text = "".join(f"_x{ord(c):04X}_" if ord(c) in _UNWRITABLE_SET else c for c in text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<t xml:space="preserve">{text}</t>' if rare else f"<t>{text}</t>"


_UNWRITABLE_SET = frozenset(_UNWRITABLE)

_WIDTH_BY_KIND = {CellKind.TEXT: 20, CellKind.NUMBER: 14, CellKind.DATE: 13}


def _sheet_head(columns: Sequence[Column], dimension: str) -> str:
    widths = "".join(
        f'<col min="{i}" max="{i}" width="{column.width or _WIDTH_BY_KIND[column.kind]}" '
        'customWidth="1"/>'
        for i, column in enumerate(columns, 1)
    )
    header = "".join(
        f'<c r="{column_letter(i)}1" s="{_HEADER_STYLE}" t="inlineStr"><is>'
        f"{xml_text(column.header)}</is></c>"
        for i, column in enumerate(columns)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f"<worksheet {_MAIN_NS} {_REL_NS}>"
        f'<dimension ref="{dimension}"/>'
        '<sheetViews><sheetView tabSelected="1" workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft"/></sheetView></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        f"<cols>{widths}</cols>"
        f'<sheetData><row r="1">{header}</row>\n'
    )


_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL_NS = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOCUMENT_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument"

# Fonts without theme colours, so that the workbook needs no theme part.
STYLES = (
    f"{_XML}<styleSheet {_MAIN_NS}>"
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    # 4 is Excel's built-in "#,##0.00".
    '<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '<dxfs count="0"/><tableStyles count="0"/></styleSheet>'
)


def _static_parts(*, filter_range: str, now: dt.datetime) -> dict[str, str]:
    """Every part but the worksheet, as XlsxWriter writes them (less the theme)."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    sheet_name = quoteattr(SHEET_NAME)
    return {
        "[Content_Types].xml": (
            f"{_XML}<Types "
            'xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/docProps/app.xml" ContentType="{_CT}.extended-properties+xml"/>'
            '<Override PartName="/docProps/core.xml" '
            'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.spreadsheetml.styles+xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            f'ContentType="{_CT}.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            f'ContentType="{_CT}.spreadsheetml.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'{_XML}<Relationships xmlns="{_PACKAGE_RELS}">'
            f'<Relationship Id="rId1" Type="{_DOCUMENT_RELS}/officeDocument" '
            'Target="xl/workbook.xml"/>'
            f'<Relationship Id="rId2" Type="{_PACKAGE_RELS}/metadata/core-properties" '
            'Target="docProps/core.xml"/>'
            f'<Relationship Id="rId3" Type="{_DOCUMENT_RELS}/extended-properties" '
            'Target="docProps/app.xml"/>'
            "</Relationships>"
        ),
        "docProps/app.xml": (
            f"{_XML}<Properties "
            'xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties" '
            'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
            "<Application>Records Desk</Application></Properties>"
        ),
        "docProps/core.xml": (
            f"{_XML}<cp:coreProperties "
            'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<dc:creator>Records Desk</dc:creator>"
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
            "</cp:coreProperties>"
        ),
        "xl/workbook.xml": (
            f"{_XML}<workbook {_MAIN_NS} {_REL_NS}>"
            '<bookViews><workbookView xWindow="240" yWindow="15" windowWidth="16095" '
            'windowHeight="9660"/></bookViews>'
            f'<sheets><sheet name={sheet_name} sheetId="1" r:id="rId1"/></sheets>'
            '<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" '
            f'hidden="1">{filter_range}</definedName></definedNames>'
            '<calcPr calcId="124519"/></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'{_XML}<Relationships xmlns="{_PACKAGE_RELS}">'
            f'<Relationship Id="rId1" Type="{_DOCUMENT_RELS}/worksheet" '
            'Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_DOCUMENT_RELS}/styles" Target="styles.xml"/>'
            "</Relationships>"
        ),
        "xl/styles.xml": STYLES,
    }
