"""Open an uploaded spreadsheet, CSV or XLSX, and read its header and rows of raw cell values.

The format is told by the file's content, never by its name. Everything a person can get
wrong about a file becomes a SpreadsheetError whose message is shown to them as is, raised
by `open_spreadsheet` whenever it can be found before the first row is read: only rows
that are too long (and CSV quotes that never close) are found while reading the rows.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import html
import io
import itertools
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO
from xml.etree import ElementTree

from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum

# How much of the file the format, the delimiter and binary content are judged by.
HEAD_SIZE = 64 * 1024
# The whole-file checks (encoding, NUL characters, XLSX formulas) read this much at a time.
SCAN_CHUNK_SIZE = 1024 * 1024
# A zip entry this large that inflates more than BOMB_RATIO times is not a spreadsheet.
BOMB_ENTRY_SIZE = 1024 * 1024
BOMB_RATIO = 100
DELIMITERS = ",;\t|"
# csv.Sniffer takes quadratic time on some text (13 s for a crafted 64 KB): it gets this much.
SNIFF_SIZE = 4 * 1024

_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)
# C0 control characters other than tab, line feed, vertical tab, form feed and carriage
# return: text has next to none of them, binary formats are full of them.
_CONTROL_BYTES = bytes(range(9)) + bytes(range(14, 32))
_ENCODING_LABELS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "cp1252": "Windows-1252",
    "latin-1": "Latin-1",
    "utf-16": "UTF-16",
}
_DELIMITER_NAMES = {";": "semicolons", "\t": "tabs", "|": "vertical bars (|)"}
_SHOWN_FORMULA_LENGTH = 40
_FORMAT_NAMES = {"csv": "CSV text", "xlsx": "an XLSX workbook"}

# Decoding with this handler turns every undecodable byte into a NUL character, so one
# search finds the first row that is not text, whichever way it is not.
_AS_NUL = "records-spreadsheets-as-nul"
codecs.register_error(_AS_NUL, lambda error: ("\x00", error.end))


class SpreadsheetError(Exception):
    """A file we cannot read; `message` is shown to the user as is."""

    def __init__(self, message: str, *, row: int | None = None, column: str | None = None):
        super().__init__(message)
        self.message = message
        self.row = row
        self.column = column


@dataclass(frozen=True)
class ReadOptions:
    """Choices the user made about the file; None means "find out from the file"."""

    format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None


@dataclass(frozen=True)
class _Header:
    """The header row: its cells as text, up to the last one with a name."""

    texts: list[str]

    @property
    def names(self) -> list[str]:
        return [text for text in self.texts if text]

    @property
    def blank_columns(self) -> list[int]:
        return [index for index, text in enumerate(self.texts) if not text]


class Sheet:
    """An opened spreadsheet: its header, notes on how it was read, and its data rows.

    Each data row comes as (row number, cells): the number a spreadsheet shows (the header
    is row 1) and exactly one cell per header. CSV cells are str. XLSX cells are str, int,
    float, bool, datetime.date, datetime.datetime, datetime.time (a time of day) or
    datetime.timedelta (a duration), and "" when empty.
    """

    format: str
    encoding: str | None = None
    delimiter: str | None = None
    sheet_name: str | None = None
    sheet_names: list[str]
    headers: list[str]
    notes: list[str]
    _first_column = 0  # XLSX: the leftmost column in use, which calamine starts rows at

    def __init__(self, header: _Header, notes: list[str]) -> None:
        self._header = header
        self.headers = header.names
        self.notes = notes

    def rows(self) -> Iterator[tuple[int, list]]:
        """Yield (row number, cells) for each data row, from the first on every call."""
        rows = _numbered_rows(self._records(), width=len(self._header.texts))
        if self._header.blank_columns:
            rows = self._without_blank_columns(rows)
        return rows

    def close(self) -> None:
        """Release what reading the file holds; the caller's file stays open."""

    def __enter__(self) -> Sheet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _records(self) -> Iterator[list]:
        """Return an iterator over the raw rows after the header."""
        raise NotImplementedError

    def _column_letter(self, index: int) -> str:
        return column_letter(self._first_column + index)

    def _without_blank_columns(
        self, rows: Iterator[tuple[int, list]]
    ) -> Iterator[tuple[int, list]]:
        """Drop the columns without a name, refusing a row that has a value in one."""
        blank = self._header.blank_columns
        named = [index for index, text in enumerate(self._header.texts) if text]
        for number, cells in rows:
            for index in blank:
                if cells[index] != "":
                    letter = self._column_letter(index)
                    raise SpreadsheetError(
                        f"Row {number} has a value in column {letter}, "
                        "which has no name in the first row.",
                        row=number,
                        column=letter,
                    )
            yield number, [cells[index] for index in named]


class CsvSheet(Sheet):
    """A CSV file, decoded and parsed as a stream."""

    format = "csv"

    def __init__(
        self,
        file: BinaryIO,
        *,
        encoding: str,
        delimiter: str,
        split_lines: bool,
        notes: list[str],
    ):
        self._file = file
        self.encoding = encoding
        self.delimiter = delimiter
        self._split_lines = split_lines
        self.sheet_names = []
        records = self._reader()
        try:
            first = next(records, [])
            if not _has_text(first) and not any(_has_text(record) for record in records):
                raise SpreadsheetError("The file is empty.")
        except csv.Error as error:
            raise _csv_error(error, row=1) from error
        super().__init__(_read_header(first), notes)

    def _reader(self) -> Iterator[list[str]]:
        """Return a CSV reader over the file from its first record."""
        # newline="" hands line endings to the csv module, which takes CRLF, LF and CR
        # alike and keeps the line breaks inside quoted cells.
        buffered = io.BufferedReader(_Window(self._file), HEAD_SIZE)
        text = io.TextIOWrapper(buffered, self.encoding, newline="")
        if self._split_lines:
            return _split_records(text, self.delimiter)
        return csv.reader(text, delimiter=self.delimiter)

    def _records(self) -> Iterator[list[str]]:
        records = self._reader()
        next(records, None)
        return records


class XlsxSheet(Sheet):
    """One worksheet of an XLSX workbook, which calamine holds in memory whole."""

    format = "xlsx"

    def __init__(
        self, workbook: CalamineWorkbook, *, name: str, names: list[str], notes: list[str]
    ):
        self.sheet_name = name
        self.sheet_names = names
        try:
            self._data = workbook.get_sheet_by_name(name)
        except CalamineError as error:
            raise _damaged_workbook() from error
        if self._data.start is None:
            raise SpreadsheetError(f"The sheet “{name}” is empty.")
        # calamine's rows start at the leftmost column in use (but at the first row).
        self._first_column = self._data.start[1]
        header = _read_header(next(self._data.iter_rows()), first_column=self._first_column)
        super().__init__(header, notes)

    def _formula_error(self, reference: str | None, formula: str) -> SpreadsheetError:
        """Describe the formula found in `reference` (like "B7") for the person who sent it."""
        shown = f" ({_shorten('=' + formula)})" if formula else ""
        if reference is None:
            return SpreadsheetError(f"The sheet has a formula{shown}; paste values instead.")
        letters, row = re.fullmatch(r"([A-Z]+)([0-9]+)", reference).groups()
        index = column_index(letters) - self._first_column
        texts = self._header.texts
        name = texts[index] if 0 <= index < len(texts) and texts[index] else None
        where = f"column “{name}”" if name else f"column {letters}"
        return SpreadsheetError(
            f"Row {row}, {where}: cell {reference} contains a formula{shown}; "
            "paste values instead.",
            row=int(row),
            column=name or letters,
        )

    def close(self) -> None:
        """Drop the sheet's cells, which calamine holds in memory."""
        self._data = None

    def _records(self) -> Iterator[list]:
        records = self._data.iter_rows()
        next(records, None)
        return records


class _Window(io.RawIOBase):
    """Read the caller's file from the start, at its own position, and never close it."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:
        # Seeking each time lets a second reader (rows() called again, or the caller saving
        # the upload) use the same file in between.
        self._file.seek(self._position)
        size = self._file.readinto(buffer)
        self._position += size
        return size


def open_spreadsheet(
    file: BinaryIO,
    *,
    filename: str = "",
    options: ReadOptions = ReadOptions(),
    max_bytes: int,
    max_uncompressed_bytes: int,
) -> Sheet:
    """Open an uploaded CSV or XLSX file, refusing what cannot be read with a SpreadsheetError."""
    if options.format not in (None, "csv", "xlsx"):
        raise SpreadsheetError(f"“{options.format}” is not a format we read: choose CSV or XLSX.")
    file.seek(0, io.SEEK_END)
    size = file.tell()
    if size > max_bytes:
        raise SpreadsheetError(
            f"The file is {human_size(size)}; the limit is {human_size(max_bytes)}."
        )
    file.seek(0)
    head = file.read(HEAD_SIZE)
    if not head:
        raise SpreadsheetError("The file is empty.")
    if head.startswith(_ZIP_MAGIC):
        with _open_archive(file, max_uncompressed_bytes=max_uncompressed_bytes) as archive:
            _check_chosen_format(options.format, "xlsx")
            notes = _name_notes(filename, "xlsx")
            return _open_xlsx(file, archive, sheet=options.sheet, notes=notes)
    if head.startswith(_OLE2_MAGIC):
        raise SpreadsheetError(
            "This workbook is password-protected or in the old .xls format: save it as .xlsx "
            "without a password, or as CSV."
        )
    _refuse_non_text(head)
    _check_chosen_format(options.format, "csv")
    return _open_csv(file, head, options=options, notes=_name_notes(filename, "csv"))


def human_size(size: int) -> str:
    """Return a byte count as people read it: "512 bytes", "3.4 MB", "2 GB"."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            text = f"{size / scale:.1f}"
            # "200 MB", not "200.0 MB", but only when it is exactly that: a file of 200.01 MB
            # over a limit of 200 MB must not read as being the same size.
            return f"{text.removesuffix('.0') if size % scale == 0 else text} {unit}"
    return f"{size} bytes"


def column_letter(index: int) -> str:
    """Return the spreadsheet letters of a 0-based column index: 0 is A, 26 is AA."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def column_index(letters: str) -> int:
    """Return the 0-based index of a column given by its letters: A is 0, AA is 26."""
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def _numbered_rows(records: Iterator[list], *, width: int) -> Iterator[tuple[int, list]]:
    """Yield (row number, cells) for each record with anything in it, `width` cells each."""
    # The hot loop of every import: per row one length check and one comparison, the rest
    # is the csv module's (or calamine's) C code. Only odd rows take the slower _fit().
    number = 1
    try:
        for number, cells in enumerate(records, 2):
            if len(cells) != width or cells[0] == "":
                cells = _fit(cells, width=width, number=number)
                if cells is None:
                    continue
            yield number, cells
    except csv.Error as error:
        raise _csv_error(error, row=number + 1) from error


def _split_records(lines: Iterator[str], delimiter: str) -> Iterator[list[str]]:
    """Yield the records of CSV text, splitting the lines that hold no quote in C."""
    # A line without a quote is a whole record, and str.split cuts it into the very cells
    # the csv module would, 40% faster. A line with a quote goes to the csv module, which
    # reads on through the lines that a quoted cell's line breaks run over.
    lines = iter(lines)
    for line in lines:
        if '"' in line:
            yield next(csv.reader(itertools.chain((line,), lines), delimiter=delimiter))
        else:
            yield line.rstrip("\r\n").split(delimiter)


def _fit(cells: list, *, width: int, number: int) -> list | None:
    """Return `cells` padded or cut to `width`, or None when the row is empty."""
    filled = [index for index, cell in enumerate(cells) if cell != ""]
    if not filled:
        return None
    length = filled[-1] + 1
    if length > width:
        raise SpreadsheetError(
            f"Row {number} has {length} cells but the header has {width}.", row=number
        )
    return cells[:width] + [""] * (width - len(cells))


def _read_header(cells: list, *, first_column: int = 0) -> _Header:
    """Read the first row as column names, refusing an empty or ambiguous header."""
    texts = [_header_text(cell) for cell in cells]
    if texts:
        texts[0] = texts[0].lstrip("\ufeff").strip()
    while texts and not texts[-1]:
        texts.pop()
    if not texts:
        raise SpreadsheetError(
            "The first row should hold the column names, but it is empty.", row=1
        )
    _refuse_duplicate_names(texts, first_column=first_column)
    return _Header(texts)


def _header_text(value: object) -> str:
    """Return a header cell as text (XLSX headers can be numbers or dates)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()


def _refuse_duplicate_names(texts: list[str], *, first_column: int) -> None:
    """Refuse a header naming a column twice, comparing case- and space-insensitively."""
    columns: dict[str, list[int]] = {}
    for index, text in enumerate(texts):
        if text:
            columns.setdefault("".join(text.split()).casefold(), []).append(index)
    for indexes in columns.values():
        if len(indexes) > 1:
            name = texts[indexes[0]]
            times = "twice" if len(indexes) == 2 else f"{len(indexes)} times"
            letters = [column_letter(first_column + index) for index in indexes]
            listed = ", ".join(letters[:-1]) + " and " + letters[-1]
            raise SpreadsheetError(
                f"The column “{name}” appears {times} (columns {listed}).", row=1, column=name
            )


def _has_text(record: list[str]) -> bool:
    return any(cell.strip() for cell in record)


def _csv_error(error: csv.Error, *, row: int) -> SpreadsheetError:
    """Explain a csv module error about one row."""
    if "field larger than field limit" in str(error):
        # The usual cause: a quote that never closes swallows the rest of the file.
        return SpreadsheetError(
            f"Row {row} has a cell longer than {csv.field_size_limit():,} characters: is a "
            'quote (") missing its closing quote?',
            row=row,
        )
    return SpreadsheetError(f"Row {row} cannot be read as CSV ({error}).", row=row)


def _name_notes(filename: str, actual: str) -> list[str]:
    """Note a file named like one format that holds the other."""
    extension = posixpath.splitext(filename.lower())[1]
    named = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx"}.get(extension)
    if named is None or named == actual:
        return []
    return [f"“{filename}” holds {_FORMAT_NAMES[actual]}, and was read as {actual.upper()}."]


def _check_chosen_format(chosen: str | None, actual: str) -> None:
    """Refuse a file whose content is not in the format the user chose."""
    if chosen is not None and chosen != actual:
        raise SpreadsheetError(
            f"You chose {chosen.upper()}, but this file is {_FORMAT_NAMES[actual]}: choose "
            f"{actual.upper()}, or let the format be found from the file."
        )


def _refuse_non_text(head: bytes) -> None:
    """Refuse files that are plainly not CSV text: PDFs, images and other binary data."""
    if head.startswith(b"%PDF"):
        raise SpreadsheetError(
            "This is a PDF, not a spreadsheet: upload the data as a CSV or XLSX file."
        )
    image = next((name for magic, name in _IMAGE_MAGIC if head.startswith(magic)), None)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        image = "WEBP"
    if image:
        raise SpreadsheetError(
            f"This is an image ({image}), not a spreadsheet: upload the data as a CSV or XLSX file."
        )
    # UTF-16 text is half NUL bytes; a stray NUL in text is reported with its row later.
    # Control characters in UTF-8 text without NULs are values (an export of a register
    # whose names hold them reads back): binary data is the rest.
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if (
        not head.startswith(_UTF16_BOMS)
        and controls * 20 > len(head)
        and (b"\x00" in head or not _is_utf8(head))
    ):
        raise SpreadsheetError(
            "This is not a spreadsheet: it contains binary data. Upload a CSV or XLSX file."
        )


def _is_utf8(head: bytes) -> bool:
    """Whether the bytes are UTF-8 (a character cut off at the end of the head is)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


# CSV


def _open_csv(file: BinaryIO, head: bytes, *, options: ReadOptions, notes: list[str]) -> Sheet:
    """Find the encoding and delimiter of a CSV file, check its text and read its header."""
    declared = _encoding_from_bom(head)
    encoding = options.encoding or declared
    if encoding is not None:
        _check_encoding_name(encoding)
    sample = head.decode(encoding or "utf-8", errors="replace")
    delimiter = options.delimiter or _sniff_delimiter(sample, notes=notes)
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise SpreadsheetError(f"“{delimiter}” cannot be the delimiter: choose , ; | or tab.")
    if encoding is None:
        encoding, problem = _detect_encoding(file)
        if encoding != "utf-8":
            notes.append(f"Read as {_ENCODING_LABELS[encoding]} (the file is not UTF-8).")
    else:
        problem = _first_problem(file, encoding)
    if encoding == "utf-16":
        notes.append("Read as UTF-16 text (Excel's “Unicode text”).")
    if problem is not None:
        row = _first_row_not_text(file, encoding=encoding, delimiter=delimiter)
        raise _text_error(problem, encoding=encoding, row=row)
    # Splitting lines only pays when most lines have no quotes; some files quote every cell.
    lines = sample.splitlines()
    split_lines = sum('"' in line for line in lines) * 2 <= len(lines)
    return CsvSheet(
        file, encoding=encoding, delimiter=delimiter, split_lines=split_lines, notes=notes
    )


def _encoding_from_bom(head: bytes) -> str | None:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith(_UTF16_BOMS):
        return "utf-16"
    return None


def _check_encoding_name(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise SpreadsheetError(
            f"“{encoding}” is not an encoding we know: choose one such as UTF-8 or Windows-1252."
        ) from None


def _detect_encoding(file: BinaryIO) -> tuple[str, str | None]:
    """Return the first of UTF-8, Windows-1252 and Latin-1 that decodes the whole file."""
    for encoding in ("utf-8", "cp1252"):
        problem = _first_problem(file, encoding)
        if problem != "undecodable":
            return encoding, problem
    # Latin-1 decodes any byte: only a NUL can still be wrong.
    return "latin-1", _first_problem(file, "latin-1")


def _first_problem(file: BinaryIO, encoding: str) -> str | None:
    """Return "undecodable" or "nul" for the first thing stopping the file being text."""
    decoder = codecs.getincrementaldecoder(encoding)()
    file.seek(0)
    try:
        while chunk := file.read(SCAN_CHUNK_SIZE):
            if "\x00" in decoder.decode(chunk):
                return "nul"
        decoder.decode(b"", final=True)
    except UnicodeError:  # UnicodeDecodeError, or a codec's own complaint
        return "undecodable"
    return None


def _first_row_not_text(file: BinaryIO, *, encoding: str, delimiter: str) -> int:
    """Return the row number of the first record with a NUL or an undecodable byte."""
    found = False

    def lines(text: io.TextIOWrapper) -> Iterator[str]:
        nonlocal found
        for line in text:
            found = found or "\x00" in line
            yield line

    # Rows are records, not lines (a quoted cell can hold line breaks): the record that
    # the csv module completes after reading the bad line is the one holding it.
    buffered = io.BufferedReader(_Window(file), HEAD_SIZE)
    text = io.TextIOWrapper(buffered, encoding, errors=_AS_NUL, newline="")
    number = 0
    try:
        for number, _record in enumerate(csv.reader(lines(text), delimiter=delimiter), 1):
            if found:
                return number
    except UnicodeError:  # a codec giving up on the whole stream (UTF-16 without its mark)
        return number + 1
    return number


def _text_error(problem: str, *, encoding: str, row: int) -> SpreadsheetError:
    if problem == "nul":
        return SpreadsheetError(
            f"Row {row} contains a NUL character, which text never holds: the file is "
            "damaged or not a spreadsheet.",
            row=row,
        )
    label = _ENCODING_LABELS.get(encoding, encoding)
    example = "Windows-1252" if label == "UTF-8" else "UTF-8"
    return SpreadsheetError(
        f"Row {row} is not valid {label} text: choose the file's encoding (for example {example}).",
        row=row,
    )


def _sniff_delimiter(sample: str, *, notes: list[str]) -> str:
    """Guess the delimiter from the first lines, trusting only one the header line holds."""
    header_line = sample.partition("\n")[0].partition("\r")[0]
    sample = sample[:SNIFF_SIZE]
    sample = sample[: max(sample.rfind("\n"), sample.rfind("\r")) + 1] or sample
    # Delimiters inside quotes do not count: splitting on quotes puts them at odd indexes.
    outside_quotes = header_line.split('"')[::2]
    counts = {char: sum(part.count(char) for part in outside_quotes) for char in DELIMITERS}
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        delimiter = ""
    if not counts.get(delimiter):
        delimiter = max(DELIMITERS, key=counts.__getitem__)
        if not counts[delimiter]:
            return ","
    if delimiter in _DELIMITER_NAMES:
        notes.append(f"Columns are separated by {_DELIMITER_NAMES[delimiter]}.")
    return delimiter


# XLSX


def _open_archive(file: BinaryIO, *, max_uncompressed_bytes: int) -> zipfile.ZipFile:
    """Open a zip file as an XLSX workbook, refusing it before anything is inflated."""
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise _damaged_workbook() from error
    infos = archive.infolist()
    names = {info.filename for info in infos}
    if not {"[Content_Types].xml", "xl/workbook.xml"} <= names:
        if {"mimetype", "content.xml"} <= names:
            raise SpreadsheetError(
                "This is an OpenDocument spreadsheet, not an XLSX workbook: save it as .xlsx "
                "or as CSV."
            )
        raise SpreadsheetError("This is a zip file, not an XLSX workbook.")
    if any(info.flag_bits & 0x1 for info in infos):
        raise SpreadsheetError(
            "This workbook is password-protected: save it as .xlsx without a password, or as CSV."
        )
    # Sizes from the zip's directory: nothing has been inflated yet.
    total = sum(info.file_size for info in infos)
    inflates_too_much = any(
        info.file_size > BOMB_ENTRY_SIZE and info.file_size > BOMB_RATIO * info.compress_size
        for info in infos
    )
    if total > max_uncompressed_bytes or inflates_too_much:
        raise SpreadsheetError(
            f"This workbook expands to {human_size(total)} when opened, which looks like a "
            "zip bomb; it was refused without being opened."
        )
    return archive


def _open_xlsx(
    file: BinaryIO, archive: zipfile.ZipFile, *, sheet: str | None, notes: list[str]
) -> Sheet:
    """Read the chosen worksheet's header, refusing a sheet that holds formulas."""
    file.seek(0)
    try:
        workbook = CalamineWorkbook.from_filelike(file)
    except CalamineError as error:
        raise _damaged_workbook() from error
    # The sheet's cells outlive the workbook, which holds a copy of the whole file.
    with workbook:
        names = _worksheet_names(workbook)
        name = _choose_sheet(names, sheet)
        if len(names) > 1:
            how = "the first of" if sheet is None else "chosen from"
            notes.append(f"Read sheet “{name}”, {how} {len(names)} sheets ({', '.join(names)}).")
        opened = XlsxSheet(workbook, name=name, names=names, notes=notes)
    path = _worksheet_paths(archive).get(name)
    if path is None:
        raise _damaged_workbook()
    formula = _first_formula(archive, path)
    if formula is not None:
        raise opened._formula_error(*formula)
    return opened


def _worksheet_names(workbook: CalamineWorkbook) -> list[str]:
    return [
        sheet.name for sheet in workbook.sheets_metadata if sheet.typ == SheetTypeEnum.WorkSheet
    ]


def _choose_sheet(names: list[str], wanted: str | None) -> str:
    if not names:
        raise SpreadsheetError("This workbook has no worksheets, only charts.")
    if wanted is None:
        return names[0]
    if wanted in names:
        return wanted
    raise SpreadsheetError(f"There is no sheet “{wanted}” (sheets: {', '.join(names)}).")


def _worksheet_paths(archive: zipfile.ZipFile) -> dict[str, str]:
    """Map each sheet's name to its part in the archive, as the workbook's relations say."""
    try:
        # ElementTree resolves no external entities, and the expat it runs on (2.4.1 and
        # later) refuses billion-laughs expansion; the zip checks bounded the parts' size.
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))  # noqa: S314
        relations = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))  # noqa: S314
    except (KeyError, ElementTree.ParseError, zipfile.BadZipFile) as error:
        raise _damaged_workbook() from error
    targets = {
        relation.get("Id"): relation.get("Target", "")
        for relation in relations
        if _local_name(relation.tag) == "Relationship"
    }
    paths = {}
    for element in workbook.iter():
        if _local_name(element.tag) == "sheet":
            relation_id = next(
                (value for key, value in element.attrib.items() if key.endswith("}id")), None
            )
            target = targets.get(relation_id, "")
            # Targets are relative to the workbook's folder, or absolute in the package.
            paths[element.get("name")] = (
                target[1:] if target.startswith("/") else posixpath.normpath("xl/" + target)
            )
    return paths


def _local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def _first_formula(archive: zipfile.ZipFile, path: str) -> tuple[str | None, str] | None:
    """Return the cell reference and text of the sheet's first formula, or None.

    calamine gives a formula cell's cached value, so formulas are found in the sheet's XML:
    a regular expression over the part as it inflates, 1 MB at a time, stopping at the end
    of the cell data.
    """
    try:
        with archive.open(path) as stream:
            buffer = stream.read(SCAN_CHUNK_SIZE)
            root = re.search(rb"<(?:([A-Za-z_][\w.-]*):)?worksheet[\s>]", buffer)
            # Elements carry the prefix the root element has, if any; a formula element
            # of another namespace (<xm:f> in a data validation) is not a cell's formula.
            prefix = root.group(1) + b":" if root and root.group(1) else b""
            formula = re.compile(b"<" + re.escape(prefix) + rb"f[\s>/]")
            end_of_cells = b"</" + prefix + b"sheetData>"
            while True:
                end = buffer.find(end_of_cells)
                match = formula.search(buffer, 0, len(buffer) if end == -1 else end)
                if match is not None:
                    buffer += stream.read(SCAN_CHUNK_SIZE)  # the formula's text may run on
                    return _describe_formula(buffer, match.start(), prefix)
                chunk = b"" if end != -1 else stream.read(SCAN_CHUNK_SIZE)
                if not chunk:
                    return None
                # Keep the tail: a tag cut in two by the chunk boundary is found whole.
                buffer = buffer[-4096:] + chunk
    except (KeyError, zipfile.BadZipFile, OSError, EOFError) as error:
        raise _damaged_workbook() from error


def _describe_formula(buffer: bytes, start: int, prefix: bytes) -> tuple[str | None, str]:
    """Return the reference of the cell whose formula starts at `start`, and its text."""
    # The cell's start tag is close before its formula: look back a little, not through all.
    before = buffer[max(0, start - 4096) : start]
    cells = list(re.finditer(b"<" + re.escape(prefix) + rb"c[\s>]", before))
    reference = None
    if cells:
        tag = before[cells[-1].start() :]
        found = re.search(rb"""\sr=["']([A-Z]+[0-9]+)["']""", tag)
        reference = found.group(1).decode() if found else None
    tag_end = buffer.find(b">", start)
    if tag_end == -1 or buffer[tag_end - 1 : tag_end] == b"/":
        return reference, ""  # a shared formula's later cells only point at the first one
    closing = buffer.find(b"</" + prefix + b"f>", tag_end)
    text = buffer[tag_end + 1 : closing if closing != -1 else tag_end + 1 + 200]
    return reference, html.unescape(text.decode("utf-8", errors="replace"))


def _shorten(text: str) -> str:
    if len(text) <= _SHOWN_FORMULA_LENGTH:
        return text
    return text[: _SHOWN_FORMULA_LENGTH - 1] + "…"


def _damaged_workbook() -> SpreadsheetError:
    return SpreadsheetError("The XLSX file is damaged and cannot be opened.")
