"""Opening uploaded spreadsheets: what is read, and what people are told when it cannot be."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gc
import io
import re
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import xlsxwriter
from hypothesis import given
from hypothesis import strategies as st

from records.spreadsheets import ReadOptions, Sheet, SpreadsheetError, open_spreadsheet, reading
from tests.helpers import HEADERS

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
MB = 1024 * 1024
OXFORD = [
    "GB-CHC-1000001",
    "Oxford Community Trust",
    "registered",
    "Education/training",
    "South East",
    "OX1 2AB",
    "12345.67",
    "2001-05-17",
    "https://www.example.org.uk",
    "Trust",
]


def read(
    data: bytes | str,
    *,
    filename: str = "",
    max_bytes: int = 10 * MB,
    max_uncompressed_bytes: int = 50 * MB,
    **options: str,
) -> Sheet:
    """Open `data`, or the corpus file it names, with generous limits unless told otherwise."""
    if isinstance(data, str):
        filename = filename or data
        data = (CORPUS / data).read_bytes()
    return open_spreadsheet(
        io.BytesIO(data),
        filename=filename,
        options=ReadOptions(**options),
        max_bytes=max_bytes,
        max_uncompressed_bytes=max_uncompressed_bytes,
    )


def refusal(data: bytes | str, **kwargs: object) -> SpreadsheetError:
    """Return the error that opening `data` and reading all its rows raises."""
    with pytest.raises(SpreadsheetError) as caught:
        list(read(data, **kwargs).rows())
    return caught.value


def workbook(build: Callable[[xlsxwriter.Workbook], None]) -> bytes:
    """Return the bytes of an XLSX workbook that `build` fills in."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    build(book)
    book.close()
    return buffer.getvalue()


def one_sheet(*rows: list[object], first_column: int = 0) -> bytes:
    """Return a workbook with one sheet, "Data", holding `rows` from the given column."""

    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Data")
        for index, row in enumerate(rows):
            sheet.write_row(index, first_column, row)

    return workbook(build)


def rezip(data: bytes, change: Callable[[str, bytes], bytes]) -> bytes:
    """Return the zip `data` with each entry's content passed through `change(name, content)`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            content = change(info.filename, source.read(info))
            target.writestr(info.filename, content, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


# Telling the format from the content


def test_it_reads_a_good_csv():
    sheet = read("valid.csv")

    assert (sheet.format, sheet.encoding, sheet.delimiter) == ("csv", "utf-8", ",")
    assert (sheet.sheet_name, sheet.sheet_names, sheet.notes) == (None, [], [])
    assert sheet.headers == HEADERS
    rows = list(sheet.rows())
    assert [number for number, _cells in rows] == [2, 3, 4, 5, 6]
    assert rows[0] == (2, OXFORD)
    assert rows[1][1][3] == "Arts, culture, heritage and science"
    assert rows[2][1][6] == ""


def test_it_refuses_a_file_over_the_size_limit():
    error = refusal("valid.csv", max_bytes=100)

    assert error.message == "The file is 791 bytes; the limit is 100 bytes."


def test_it_gives_sizes_over_the_limit_in_megabytes():
    error = refusal(b"reference\r\n" * (300 * 1024), max_bytes=2 * MB)

    assert error.message == "The file is 3.2 MB; the limit is 2 MB."


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (1023, "1023 bytes"),
        (1024, "1 KB"),
        (1536, "1.5 KB"),
        (200 * MB, "200 MB"),
        (200 * MB + 1, "200.0 MB"),
        (3 * 1024 * MB, "3 GB"),
    ],
)
def test_it_gives_sizes_as_people_read_them(size, text):
    assert reading.human_size(size) == text


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \r\n\r\n \t",
        codecs.BOM_UTF8,
        codecs.BOM_UTF8 + b"\r\n",
        codecs.BOM_UTF16_LE + " \r\n".encode("utf-16-le"),
    ],
)
def test_it_refuses_an_empty_file(data):
    assert refusal(data).message == "The file is empty."


def test_it_refuses_the_empty_corpus_file():
    assert refusal("empty.csv").message == "The file is empty."


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ("image_png_renamed.csv", "PNG"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "JPEG"),
        (b"GIF89a\x01\x00\x01\x00", "GIF"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "WEBP"),
    ],
)
def test_it_refuses_images(data, kind):
    error = refusal(data)

    assert error.message == (
        f"This is an image ({kind}), not a spreadsheet: upload the data as a CSV or XLSX file."
    )


def test_it_refuses_a_pdf():
    assert refusal("pdf_renamed.csv").message.startswith("This is a PDF, not a spreadsheet")


@pytest.mark.parametrize(
    "data",
    ["binary_garbage.csv", b"SQLite format 3\x00" + bytes(1000), b"\x00\x01\x02abc"],
)
def test_it_refuses_binary_data(data):
    assert refusal(data).message == (
        "This is not a spreadsheet: it contains binary data. Upload a CSV or XLSX file."
    )


def test_it_reads_utf8_text_whatever_control_characters_its_values_hold():
    # An export of a register whose names hold control characters reads back (found by
    # the export round-trip property test): it is text, not binary data.
    name = "0" * 20 + "\x1f" * 19 + "0"
    data = f"reference,name\r\nR1,{name}\r\n".encode()
    assert list(read(data).rows()) == [(2, ["R1", name])]


def test_it_refuses_password_protected_and_old_xls_workbooks():
    error = refusal("password_protected.xlsx")

    assert error.message == (
        "This workbook is password-protected or in the old .xls format: save it as .xlsx "
        "without a password, or as CSV."
    )


def test_it_goes_by_the_content_not_the_name():
    workbook_named_csv = read((CORPUS / "valid.xlsx").read_bytes(), filename="register.csv")
    text_named_xlsx = read((CORPUS / "valid.csv").read_bytes(), filename="register.xlsx")

    assert workbook_named_csv.format == "xlsx"
    assert workbook_named_csv.notes == [
        "“register.csv” holds an XLSX workbook, and was read as XLSX."
    ]
    assert text_named_xlsx.format == "csv"
    assert text_named_xlsx.notes == ["“register.xlsx” holds CSV text, and was read as CSV."]


@pytest.mark.parametrize(
    ("data", "chosen", "message"),
    [
        (
            "valid.xlsx",
            "csv",
            "You chose CSV, but this file is an XLSX workbook: choose XLSX, or let the format "
            "be found from the file.",
        ),
        (
            "valid.csv",
            "xlsx",
            "You chose XLSX, but this file is CSV text: choose CSV, or let the format be found "
            "from the file.",
        ),
    ],
)
def test_it_refuses_a_format_choice_the_content_contradicts(data, chosen, message):
    assert refusal(data, format=chosen).message == message


def test_it_reads_the_chosen_format_when_the_content_agrees():
    assert read("valid.csv", format="csv").format == "csv"
    assert read("valid.xlsx", format="xlsx").format == "xlsx"


def test_it_refuses_a_format_it_does_not_read():
    assert refusal("valid.csv", format="xls").message == (
        "“xls” is not a format we read: choose CSV or XLSX."
    )


# XLSX: refused before anything is inflated


@pytest.fixture
def no_inflating(monkeypatch):
    """Fail the test if anything reads a zip entry's content or hands the file to calamine."""

    def refuse(*args, **kwargs):
        raise AssertionError("inflated")

    monkeypatch.setattr(zipfile.ZipFile, "open", refuse)
    monkeypatch.setattr(reading.CalamineWorkbook, "from_filelike", refuse)


@pytest.mark.parametrize("max_uncompressed_bytes", [50 * MB, 1024 * MB])
def test_it_refuses_a_zip_bomb_without_inflating_it(no_inflating, max_uncompressed_bytes):
    # Over the limit, or under it but inflating 1000 times: refused by the numbers alone.
    error = refusal("zip_bomb.xlsx", max_uncompressed_bytes=max_uncompressed_bytes)

    assert error.message == (
        "This workbook expands to 110.0 MB when opened, which looks like a zip bomb; it was "
        "refused without being opened."
    )


def test_it_refuses_a_workbook_larger_than_the_uncompressed_limit(no_inflating):
    error = refusal("valid.xlsx", max_uncompressed_bytes=10_000)

    assert re.fullmatch(r"This workbook expands to [\d.]+ KB when opened, .*", error.message)


def test_it_refuses_a_zip_that_is_not_a_workbook():
    assert refusal("zip_not_xlsx.xlsx").message == "This is a zip file, not an XLSX workbook."


def test_it_tells_an_opendocument_spreadsheet_from_other_zips():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", "<office:document-content/>")

    assert refusal(buffer.getvalue()).message == (
        "This is an OpenDocument spreadsheet, not an XLSX workbook: save it as .xlsx or as CSV."
    )


def test_it_refuses_a_truncated_workbook():
    assert refusal("truncated.xlsx").message == "The XLSX file is damaged and cannot be opened."


def test_it_refuses_a_workbook_whose_parts_are_damaged():
    valid = (CORPUS / "valid.xlsx").read_bytes()
    damaged = rezip(valid, lambda name, data: b"<not xml" if name == "xl/workbook.xml" else data)

    assert refusal(damaged).message == "The XLSX file is damaged and cannot be opened."


def test_it_refuses_a_workbook_with_encrypted_entries(no_inflating):
    data = bytearray((CORPUS / "valid.xlsx").read_bytes())
    # Set the "encrypted" flag of every entry in the zip's central directory.
    for found in re.finditer(rb"PK\x01\x02", data):
        data[found.start() + 8] |= 0x01

    assert refusal(bytes(data)).message == (
        "This workbook is password-protected: save it as .xlsx without a password, or as CSV."
    )


# XLSX: reading


def test_it_reads_a_good_workbook():
    sheet = read("valid.xlsx")

    assert (sheet.format, sheet.encoding, sheet.delimiter) == ("xlsx", None, None)
    assert (sheet.sheet_name, sheet.sheet_names, sheet.notes) == ("Data", ["Data"], [])
    assert sheet.headers == HEADERS
    rows = list(sheet.rows())
    assert [number for number, _cells in rows] == [2, 3, 4]
    assert rows[0][1][:8] == [
        "GB-CHC-1000001",
        "Oxford Community Trust",
        "registered",
        "Education/training",
        "South East",
        "OX1 2AB",
        12345.67,
        dt.date(2001, 5, 17),
    ]
    # Whole numbers stay as calamine gives them; an empty cell is "", never None.
    assert rows[2][1][6:9] == [2500.0, "", "https://www.example.org.uk"]
    assert all(cell is not None for _number, cells in rows for cell in cells)


def test_it_reads_the_first_sheet_and_names_the_others():
    sheet = read("several_sheets.xlsx")

    assert sheet.sheet_name == "Data"
    assert sheet.sheet_names == ["Data", "Notes", "Lookup"]
    assert sheet.notes == ["Read sheet “Data”, the first of 3 sheets (Data, Notes, Lookup)."]


def test_it_reads_the_chosen_sheet():
    sheet = read("several_sheets.xlsx", sheet="Notes")

    assert sheet.sheet_name == "Notes"
    assert sheet.headers == ["note"]
    assert list(sheet.rows()) == [(2, ["Imported from the 2025 register"])]
    assert sheet.notes == ["Read sheet “Notes”, chosen from 3 sheets (Data, Notes, Lookup)."]


def test_it_refuses_a_sheet_that_is_not_there():
    assert refusal("several_sheets.xlsx", sheet="Nope").message == (
        "There is no sheet “Nope” (sheets: Data, Notes, Lookup)."
    )


def test_it_refuses_an_empty_sheet():
    data = workbook(lambda book: (book.add_worksheet("Data"), book.add_worksheet("Empty")))

    assert refusal(data, sheet="Empty").message == "The sheet “Empty” is empty."


def test_it_refuses_a_workbook_without_worksheets():
    def build(book: xlsxwriter.Workbook) -> None:
        book.add_worksheet("Data").write_column(0, 0, [1, 2, 3])
        chart = book.add_chart({"type": "line"})
        chart.add_series({"values": "=Data!$A$1:$A$3"})
        book.add_chartsheet("Chart").set_chart(chart)

    def drop_the_worksheet(name: str, data: bytes) -> bytes:
        if name == "xl/workbook.xml":
            return re.sub(rb'<sheet name="Data"[^>]*/>', b"", data)
        return data

    data = rezip(workbook(build), drop_the_worksheet)

    assert refusal(data).message == "This workbook has no worksheets, only charts."


def test_it_refuses_a_formula_cell():
    error = refusal("formula.xlsx")

    assert error.message == (
        "Row 4, column “income”: cell G4 contains a formula (=SUM(G2:G3)); paste values instead."
    )
    assert (error.row, error.column) == (4, "income")


def test_it_shows_a_formula_as_written_and_shortens_a_long_one():
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Data")
        sheet.write_row(0, 0, ["reference", "name"])
        sheet.write_row(1, 0, ["GB-1", "Oxford"])
        sheet.write_formula("B3", '=A2&" & "&A2&" and a great deal more text than fits"')

    error = refusal(workbook(build))

    assert error.message == (
        'Row 3, column “name”: cell B3 contains a formula (=A2&" & "&A2&" and a great deal '
        "more te…); paste values instead."
    )


def test_it_refuses_a_formula_in_a_column_without_a_name():
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Data")
        sheet.write_row(0, 0, ["reference", "name"])
        sheet.write_row(1, 0, ["GB-1", "Oxford"])
        sheet.write_formula("E2", "=1+1")

    error = refusal(workbook(build))

    assert error.message == (
        "Row 2, column E: cell E2 contains a formula (=1+1); paste values instead."
    )
    assert (error.row, error.column) == (2, "E")


def test_it_finds_a_formula_far_down_a_long_sheet():
    # Far past the first megabyte the sheet's XML is read in.
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Data")
        sheet.write_row(0, 0, ["reference", "name"])
        for row in range(1, 30_000):
            sheet.write_row(row, 0, [f"GB-CHC-{row}", "Oxford Community Trust"])
        sheet.write_formula("B30001", "=A2")

    error = refusal(workbook(build))

    assert error.row == 30_001
    assert error.message.startswith("Row 30001, column “name”: cell B30001 contains a formula")


def test_it_does_not_take_validation_lists_or_conditional_formats_for_formulas():
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Data")
        sheet.write_row(0, 0, ["reference", "status"])
        sheet.write_row(1, 0, ["GB-1", "registered"])
        sheet.data_validation("B2:B10", {"validate": "list", "source": "=Lookup!$A$1:$A$2"})
        bold = book.add_format({"bold": True})
        sheet.conditional_format(
            "A2:A10", {"type": "formula", "criteria": '=$A2="x"', "format": bold}
        )
        book.add_worksheet("Lookup").write_column(0, 0, ["registered", "removed"])

    assert list(read(workbook(build)).rows()) == [(2, ["GB-1", "registered"])]


def test_it_finds_formulas_in_a_sheet_written_with_namespace_prefixes():
    # Some writers (the .NET Open XML SDK) spell every element <x:c>, <x:f>...
    def with_prefixes(name: str, data: bytes) -> bytes:
        if name != "xl/worksheets/sheet1.xml":
            return data
        data = re.sub(rb"<(/?)([A-Za-z]\w*)([\s>/])", rb"<\1x:\2\3", data)
        return data.replace(b'xmlns="', b'xmlns:x="', 1)

    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Data")
        sheet.write_row(0, 0, ["reference", "income"])
        sheet.write_row(1, 0, ["GB-1", 5])
        sheet.write_formula("B3", "=B2*2")

    data = rezip(workbook(build), with_prefixes)

    assert b"<x:f>" in zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    assert refusal(data).message == (
        "Row 3, column “income”: cell B3 contains a formula (=B2*2); paste values instead."
    )


def formula_in_b3(change: Callable[[bytes], bytes]) -> bytes:
    """Return a workbook with a formula in B3, its sheet's XML passed through `change`."""

    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Data")
        sheet.write_row(0, 0, ["reference", "income"])
        sheet.write_row(1, 0, ["GB-1", 5])
        sheet.write_formula("B3", "=B2*2")

    return rezip(
        workbook(build),
        lambda name, data: change(data) if name == "xl/worksheets/sheet1.xml" else data,
    )


def test_it_refuses_a_formula_that_only_points_at_a_shared_one():
    data = formula_in_b3(lambda xml: xml.replace(b"<f>B2*2</f>", b'<f t="shared" si="0"/>'))

    assert refusal(data).message == (
        "Row 3, column “income”: cell B3 contains a formula; paste values instead."
    )


def test_it_refuses_a_formula_in_a_cell_without_a_reference():
    data = formula_in_b3(lambda xml: xml.replace(b'<c r="B3"', b"<c"))

    error = refusal(data)

    assert error.message == "The sheet has a formula (=B2*2); paste values instead."
    assert error.row is None


def test_it_counts_columns_from_a_on_a_sheet_that_starts_further_right():
    data = one_sheet(["reference", "name", "Name"], ["GB-1", "Oxford", "x"], first_column=1)

    assert refusal(data).message == "The column “name” appears twice (columns C and D)."


def test_it_numbers_rows_as_the_sheet_does_when_it_starts_further_right():
    data = one_sheet(["reference", "name"], [], [], ["GB-1", "Oxford"], first_column=1)

    assert list(read(data).rows()) == [(4, ["GB-1", "Oxford"])]


def test_it_names_the_formula_cell_on_a_sheet_that_starts_further_right():
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Data")
        sheet.write_row(0, 1, ["reference", "name"])
        sheet.write_row(3, 1, ["GB-1", "Oxford"])
        sheet.write_formula("C5", "=B4")

    error = refusal(workbook(build))

    assert error.message == (
        "Row 5, column “name”: cell C5 contains a formula (=B4); paste values instead."
    )


def test_it_reads_numbers_dates_times_and_booleans_as_calamine_gives_them():
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Data")
        date = book.add_format({"num_format": "yyyy-mm-dd"})
        stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        sheet.write_row(0, 0, ["reference", "income", "registered_on", "updated", "active"])
        sheet.write_row(1, 0, ["GB-1", 0])
        sheet.write_datetime(1, 2, dt.datetime(2001, 5, 17), date)
        sheet.write_datetime(1, 3, dt.datetime(2024, 1, 31, 9, 30), stamp)
        sheet.write_boolean(1, 4, False)
        # Row 3 is formatted but empty: skipped, though still counted.
        sheet.write_blank(2, 0, None, date)
        sheet.write_row(3, 0, ["", 12.5])
        sheet.write_datetime(4, 0, dt.time(9, 30), book.add_format({"num_format": "hh:mm"}))
        sheet.write_number(4, 1, 1.5, book.add_format({"num_format": "[h]:mm"}))

    rows = list(read(workbook(build)).rows())

    assert rows == [
        (2, ["GB-1", 0.0, dt.date(2001, 5, 17), dt.datetime(2024, 1, 31, 9, 30), False]),
        (4, ["", 12.5, "", "", ""]),
        (5, [dt.time(9, 30), dt.timedelta(hours=36), "", "", ""]),
    ]


def test_it_reads_headers_that_are_numbers_or_dates_as_text():
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Data")
        sheet.write_row(0, 0, ["reference", 2024, 12.5])
        sheet.write_datetime(0, 3, dt.datetime(2024, 3, 31), book.add_format({"num_format": 14}))
        sheet.write_row(1, 0, ["GB-1", 1, 2, 3])

    assert read(workbook(build)).headers == ["reference", "2024", "12.5", "2024-03-31"]


def test_it_refuses_a_sheet_whose_first_row_is_empty():
    def build(book: xlsxwriter.Workbook) -> None:
        book.add_worksheet("Data").write_row(1, 0, ["reference", "name"])

    error = refusal(workbook(build))

    assert error.message == "The first row should hold the column names, but it is empty."
    assert error.row == 1


def test_it_leaves_the_callers_workbook_file_open():
    file = io.BytesIO((CORPUS / "valid.xlsx").read_bytes())
    with open_spreadsheet(file, max_bytes=MB, max_uncompressed_bytes=MB) as sheet:
        assert len(list(sheet.rows())) == 3

    sheet.close()
    assert not file.closed


# CSV: encodings


def test_it_reads_utf8_with_a_byte_order_mark():
    sheet = read("utf8_bom.csv")

    assert sheet.encoding == "utf-8-sig"
    assert sheet.headers == HEADERS
    assert sheet.notes == []


def test_it_strips_the_byte_order_mark_when_told_the_file_is_utf8():
    sheet = read("utf8_bom.csv", encoding="utf-8")

    assert sheet.encoding == "utf-8"
    assert sheet.headers[0] == "reference"


def test_it_reads_windows_1252_when_the_file_is_not_utf8():
    sheet = read("cp1252.csv")

    assert sheet.encoding == "cp1252"
    assert sheet.notes == ["Read as Windows-1252 (the file is not UTF-8)."]
    names = [cells[1] for _number, cells in sheet.rows()]
    assert names == ["Oxford Community Trust", "Café Society – Leeds", "St Mary’s £5 Appeal"]


def test_it_reads_latin1_as_windows_1252_which_agrees_on_every_printable_character():
    sheet = read("latin1.csv")

    assert sheet.encoding == "cp1252"
    assert [cells[1] for _number, cells in sheet.rows()][1] == "Café £1 Club"


def test_it_falls_back_to_latin1_for_bytes_windows_1252_lacks():
    sheet = read("reference,name\r\nGB-1,Caf\xe9 \x81\r\n".encode("latin-1"))

    assert sheet.encoding == "latin-1"
    assert sheet.notes == ["Read as Latin-1 (the file is not UTF-8)."]
    assert list(sheet.rows()) == [(2, ["GB-1", "Café \x81"])]


def test_it_reads_the_whole_file_to_tell_its_encoding():
    # The only non-UTF-8 byte is megabytes in, well past what the delimiter is sniffed from.
    rows = "".join(f"GB-CHC-{n},Oxford Community Trust {n:06}\r\n" for n in range(60_000))
    data = ("reference,name\r\n" + rows + "GB-CHC-X,Café\r\n").encode("cp1252")

    sheet = read(data)

    assert sheet.encoding == "cp1252"
    assert list(sheet.rows())[-1] == (60_002, ["GB-CHC-X", "Café"])


def test_it_reads_excel_unicode_text():
    sheet = read("utf16_tabs.txt")

    assert (sheet.encoding, sheet.delimiter) == ("utf-16", "\t")
    assert sheet.notes == [
        "Columns are separated by tabs.",
        "Read as UTF-16 text (Excel's “Unicode text”).",
    ]
    assert sheet.headers == HEADERS
    rows = list(sheet.rows())
    assert [number for number, _cells in rows] == [2, 3]
    assert rows[0][1][1] == "Café Kraków Twinning Association"


def test_it_reads_big_endian_utf16():
    data = codecs.BOM_UTF16_BE + "reference;name\r\nGB-1;Kraków\r\n".encode("utf-16-be")

    assert list(read(data).rows()) == [(2, ["GB-1", "Kraków"])]


def test_it_names_the_row_a_chosen_encoding_cannot_read():
    error = refusal("cp1252.csv", encoding="utf-8")

    assert error.message == (
        "Row 3 is not valid UTF-8 text: choose the file's encoding (for example Windows-1252)."
    )
    assert error.row == 3


@pytest.mark.parametrize(("encoding", "label"), [("utf-16", "UTF-16"), ("utf-32", "utf-32")])
def test_it_names_the_first_row_when_a_codec_gives_up_on_the_whole_file(encoding, label):
    # Without a byte order mark these codecs refuse the stream, not a byte of it (a plain
    # UnicodeError): once a 500 from the upload form.
    error = refusal("valid.csv", encoding=encoding)

    assert error.message == (
        f"Row 1 is not valid {label} text: choose the file's encoding (for example UTF-8)."
    )
    assert error.row == 1


def test_it_counts_records_not_lines_to_name_the_row_that_is_not_text():
    data = b'reference,name\r\nGB-1,"Oxford\r\nCommunity\r\nTrust"\r\nGB-2,Caf\xe9\r\n'

    error = refusal(data, encoding="utf-8")

    assert error.row == 3


def test_it_names_the_row_of_bad_utf8_in_a_file_that_says_it_is_utf8():
    data = codecs.BOM_UTF8 + b"reference,name\r\nGB-1,Oxford\r\nGB-2,Caf\xe9\r\n"

    error = refusal(data)

    assert error.message.startswith("Row 3 is not valid UTF-8 text")


def test_it_suggests_utf8_when_another_chosen_encoding_fails():
    error = refusal("reference,name\r\nGB-1,Caf\u0081\r\n".encode(), encoding="cp1252")

    assert error.message == (
        "Row 2 is not valid Windows-1252 text: choose the file's encoding (for example UTF-8)."
    )


def test_it_reads_the_chosen_encoding():
    sheet = read("cp1252.csv", encoding="cp1252")

    assert sheet.encoding == "cp1252"
    assert sheet.notes == []


def test_it_refuses_an_encoding_it_does_not_know():
    assert refusal("valid.csv", encoding="klingon").message == (
        "“klingon” is not an encoding we know: choose one such as UTF-8 or Windows-1252."
    )


def test_it_names_the_row_with_a_nul_character():
    error = refusal("nul_byte.csv")

    assert error.message == (
        "Row 3 contains a NUL character, which text never holds: the file is damaged or not a "
        "spreadsheet."
    )
    assert error.row == 3


def test_it_finds_a_nul_character_deep_in_a_large_file():
    rows = [f"GB-CHC-{n},Oxford Community Trust\r\n" for n in range(50_000)]
    rows[40_000] = "GB-CHC-X,Oxford\x00Trust\r\n"

    error = refusal(("reference,name\r\n" + "".join(rows)).encode())

    assert error.row == 40_002


# CSV: delimiters, line endings and quotes


@pytest.mark.parametrize(
    ("name", "delimiter", "notes"),
    [
        ("valid.csv", ",", []),
        ("semicolons.csv", ";", ["Columns are separated by semicolons."]),
        ("tabs.tsv", "\t", ["Columns are separated by tabs."]),
        ("pipes.csv", "|", ["Columns are separated by vertical bars (|)."]),
    ],
)
def test_it_finds_the_delimiter(name, delimiter, notes):
    sheet = read(name)

    assert sheet.delimiter == delimiter
    assert sheet.notes == notes
    assert sheet.headers == HEADERS
    assert all(len(cells) == len(HEADERS) for _number, cells in sheet.rows())


def test_it_keeps_a_delimiter_inside_quotes_in_the_cell():
    rows = list(read("semicolons.csv").rows())

    assert rows[1][1][1] == "Leeds; Bradford and District Trust"


@pytest.mark.parametrize(
    ("data", "delimiter", "headers"),
    [
        (b"reference\r\nGB-1\r\nGB-2\r\n", ",", ["reference"]),
        (b'"reference, the key";name\r\nGB-1;Oxford\r\n', ";", ["reference, the key", "name"]),
        (b"reference|name,with,commas\r\nGB-1|Oxford\r\n", "|", ["reference", "name,with,commas"]),
        (b"reference,name", ",", ["reference", "name"]),
    ],
)
def test_it_trusts_only_a_delimiter_the_header_holds(data, delimiter, headers):
    sheet = read(data)

    assert (sheet.delimiter, sheet.headers) == (delimiter, headers)


def test_it_sniffs_text_that_would_take_the_csv_sniffer_minutes_quickly():
    # csv.Sniffer is quadratic on quotes that never close before a delimiter.
    data = b"reference,name\r\n" + b',"a' * 60_000

    started = time.perf_counter()
    sheet = read(data)

    assert time.perf_counter() - started < 2
    assert sheet.delimiter == ","


def test_it_uses_the_chosen_delimiter():
    sheet = read(b"reference;name,alias\r\nGB-1;Oxford,Ox\r\n", delimiter=";")

    assert sheet.headers == ["reference", "name,alias"]
    assert sheet.notes == []


@pytest.mark.parametrize("delimiter", ["::", '"', "\n"])
def test_it_refuses_a_delimiter_it_cannot_use(delimiter):
    error = refusal("valid.csv", delimiter=delimiter)

    assert error.message == f"“{delimiter}” cannot be the delimiter: choose , ; | or tab."


def test_it_reads_mixed_line_endings():
    rows = list(read("mixed_line_endings.csv").rows())

    assert [(number, cells[0]) for number, cells in rows] == [
        (2, "GB-CHC-1000001"),
        (3, "GB-CHC-1000003"),
        (4, "GB-CHC-1000004"),
    ]


def test_it_counts_a_record_with_line_breaks_inside_quotes_as_one_row():
    rows = list(read("quoted_newlines.csv").rows())

    assert [number for number, _cells in rows] == [2, 3, 4]
    assert rows[0][1][1] == "Oxford Community Trust\r\n(formerly Oxford Aid)"
    assert rows[1][1][1] == "Leeds\nHeritage\nSociety"
    assert rows[2][1][0] == "GB-CHC-1000003"


def test_it_reads_a_file_that_quotes_every_cell():
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    writer.writerows([HEADERS, OXFORD, [*OXFORD[:1], 'Say "hi"\nthere', *OXFORD[2:]]])

    rows = list(read(buffer.getvalue().encode()).rows())

    assert rows == [(2, OXFORD), (3, [OXFORD[0], 'Say "hi"\nthere', *OXFORD[2:]])]


@pytest.mark.parametrize(
    ("data", "row"),
    [
        (b'reference,name\r\nGB-1,"Oxford\r\n' + b"GB-2,Cambridge\r\n" * 10_000, 2),
        (b'"reference,name\r\n' + b"GB-2,Cambridge\r\n" * 10_000, 1),
    ],
)
def test_it_reports_a_quote_that_never_closes(data, row):
    error = refusal(data)

    assert error.message == (
        f'Row {row} has a cell longer than 131,072 characters: is a quote (") missing its '
        "closing quote?"
    )
    assert error.row == row


@given(st.text(alphabet=st.sampled_from(["a", "é", " ", ",", ";", '"', "\r", "\n", "\x85"])))
def test_it_splits_lines_into_the_same_records_as_the_csv_module(text):
    # Lines without quotes are split with str.split: they must give what csv would.
    expected = list(csv.reader(io.StringIO(text, newline="")))
    records = list(reading._split_records(io.StringIO(text, newline=""), ","))

    # A blank line is [] to the csv module and [""] to str.split: both are empty rows.
    assert [record or [""] for record in records] == [record or [""] for record in expected]


# Headers


@pytest.mark.parametrize(
    "data", [b"\r\nreference,name\r\nGB-1,Oxford\r\n", b" , ,\r\nreference,name\r\n"]
)
def test_it_refuses_a_first_row_without_names(data):
    error = refusal(data)

    assert error.message == "The first row should hold the column names, but it is empty."
    assert error.row == 1


def test_it_refuses_a_column_named_twice():
    error = refusal("duplicate_headers.csv")

    assert error.message == "The column “name” appears twice (columns B and F)."
    assert (error.row, error.column) == (1, "name")


def test_it_compares_column_names_without_case_or_spaces():
    error = refusal(b"reference,Post code,name,postcode,POSTCODE\r\n")

    assert error.message == "The column “Post code” appears 3 times (columns B, D and E)."


def test_it_strips_header_cells():
    sheet = read(b" reference ,\tName \r\nGB-1,Oxford\r\n")

    assert sheet.headers == ["reference", "Name"]


def test_it_drops_columns_without_a_name_when_they_are_empty():
    sheet = read(b"reference,,name,,\r\nGB-1,,Oxford,,\r\nGB-2,,Bath\r\n")

    assert sheet.headers == ["reference", "name"]
    assert list(sheet.rows()) == [(2, ["GB-1", "Oxford"]), (3, ["GB-2", "Bath"])]


def test_it_refuses_a_value_in_a_column_without_a_name():
    error = refusal("blank_header_with_data.csv")

    assert error.message == "Row 2 has a value in column E, which has no name in the first row."
    assert (error.row, error.column) == (2, "E")


def test_it_reads_a_file_with_a_header_and_no_rows():
    sheet = read("header_only.csv")

    assert sheet.headers == HEADERS
    assert list(sheet.rows()) == []


# Rows


def test_it_refuses_a_row_with_more_cells_than_the_header():
    sheet = read("ragged_too_many.csv")
    rows = sheet.rows()

    assert [number for number, _cells in [next(rows), next(rows)]] == [2, 3]
    with pytest.raises(SpreadsheetError) as caught:
        next(rows)
    assert caught.value.message == "Row 4 has 11 cells but the header has 10."
    assert caught.value.row == 4


def test_it_pads_short_rows_and_cuts_empty_extra_cells():
    rows = list(read("short_rows.csv").rows())

    assert rows[1] == (3, ["GB-CHC-1000006", "Bath Lido Trust", "registered", *[""] * 7])
    assert len(rows[2][1]) == len(HEADERS)


def test_it_skips_empty_rows_but_counts_them():
    data = b"reference,name\r\n\r\n,\r\nGB-1,Oxford\r\n,,,\r\n,Bath\r\n"

    assert list(read(data).rows()) == [(4, ["GB-1", "Oxford"]), (6, ["", "Bath"])]


def test_it_starts_from_the_first_row_each_time():
    sheet = read("valid.csv")
    first, second = sheet.rows(), sheet.rows()

    # Two readers of one file do not disturb each other.
    assert next(first)[0] == 2
    assert next(second)[0] == 2
    assert next(first)[0] == 3
    assert list(sheet.rows()) == list(read("valid.csv").rows())


def test_it_leaves_the_callers_file_open():
    file = io.BytesIO((CORPUS / "valid.csv").read_bytes())
    with open_spreadsheet(file, max_bytes=MB, max_uncompressed_bytes=MB) as sheet:
        rows = sheet.rows()
        next(rows)

    del sheet, rows
    gc.collect()
    assert not file.closed


# Files the reader reads, for the import to judge


@pytest.mark.parametrize(
    ("name", "row", "column", "value"),
    [
        ("duplicate_references.csv", 6, 0, "GB-CHC-1000002"),
        ("invalid_dates.csv", 3, 7, "31/02/1994"),
        ("invalid_numbers.csv", 4, 6, "1.2.3"),
        ("invalid_choices.csv", 3, 2, "bogus"),
        ("formulas.csv", 2, 1, "=cmd|' /C calc'!A0"),
        ("formulas.csv", 3, 1, "@SUM(1+1)"),
        ("escaped_formulas.csv", 4, 1, "''=already escaped"),
    ],
)
def test_it_hands_values_on_as_they_are(name, row, column, value):
    rows = dict(read(name).rows())

    assert rows[row][column] == value


def test_it_hands_a_long_value_on_whole():
    rows = dict(read("value_too_long.csv").rows())

    assert len(rows[3][1]) == 300


def test_it_reads_a_file_without_a_reference_column():
    assert read("missing_reference_column.csv").headers == HEADERS[1:]


# Column letters


@pytest.mark.parametrize(
    ("index", "letters"), [(0, "A"), (25, "Z"), (26, "AA"), (51, "AZ"), (701, "ZZ"), (702, "AAA")]
)
def test_it_names_columns_as_spreadsheets_do(index, letters):
    assert reading.column_letter(index) == letters
    assert reading.column_index(letters) == index
