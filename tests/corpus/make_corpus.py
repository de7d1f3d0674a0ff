"""Write every file of the bad-file corpus, byte for byte the same on every run.

Run from anywhere: `python tests/corpus/make_corpus.py`. README.md says what each file is
and what the reader or the import should say about it.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import struct
import zipfile
import zlib
from pathlib import Path

import xlsxwriter

CORPUS = Path(__file__).resolve().parent

HEADER = "reference,name,status,category,region,postcode,income,registered_on,website,charity_type"
ROWS = (
    "GB-CHC-1000001,Oxford Community Trust,registered,Education/training,South East,OX1 2AB,"
    "12345.67,2001-05-17,https://www.example.org.uk,Trust",
    'GB-CHC-1000002,Leeds Heritage Society,registered,"Arts, culture, heritage and science",'
    "Yorkshire and the Humber,LS1 4AP,860.38,1994-12-17,,CIO",
    "GB-CHC-1000003,St Mary's Church Bath,removed,Religious activities,South West,BA1 1LT,,"
    "1972-03-01,https://www.stmarysbath.org.uk,Trust",
    "GB-CHC-1000004,Friends of Norwich Library,registered,General charitable purposes,"
    "East of England,NR2 1AW,2500,2010-09-30,,Charitable company",
    "GB-CHC-1000005,The Patel Foundation,suspended,Relief of poverty,London,E1 6AN,1048576.5,"
    "2019-01-08,https://www.patelfoundation.org.uk,CIO",
)
# 300 characters, where the register allows 255.
LONG_NAME = ("Leeds Heritage " * 20)[:-1] + "!"
# One fixed moment, so that the XLSX files' properties do not change from run to run.
CREATED = dt.datetime(2025, 1, 1, 9, 0)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def csv_text(*rows: str, header: str = HEADER, newline: str = "\r\n") -> str:
    """Return CSV text: the header, then `rows`, each line ended by `newline`."""
    return "".join(line + newline for line in (header, *rows))


def write(name: str, data: bytes | str, encoding: str = "utf-8") -> None:
    """Write a corpus file, encoding text as told."""
    (CORPUS / name).write_bytes(data.encode(encoding) if isinstance(data, str) else data)


def png() -> bytes:
    """Return a 1×1 white PNG image."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        checksum = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", checksum)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def pdf() -> bytes:
    """Return a one-page PDF with no content."""
    return (
        b"%PDF-1.4\n"
        b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n"
        b"trailer << /Root 1 0 R >>\n"
        b"%%EOF\n"
    )


def xlsx(sheets: dict[str, list[list[object]]], *, formulas: dict | None = None) -> bytes:
    """Return an XLSX workbook with `sheets` ({name: rows}); dates get a date format."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    workbook.set_properties({"created": CREATED})
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    for name, rows in sheets.items():
        worksheet = workbook.add_worksheet(name)
        for row_index, row in enumerate(rows):
            for column_index, value in enumerate(row):
                if isinstance(value, dt.date):
                    worksheet.write_datetime(row_index, column_index, value, date_format)
                elif value != "":
                    worksheet.write(row_index, column_index, value)
        for cell, (formula, cached) in (formulas or {}).get(name, {}).items():
            worksheet.write_formula(cell, formula, None, cached)
    workbook.close()
    return buffer.getvalue()


def xlsx_rows() -> list[list[object]]:
    """Return the header and rows for the XLSX files, with real numbers and dates."""
    oxford = ["GB-CHC-1000001", "Oxford Community Trust", "registered", "Education/training"]
    leeds = ["GB-CHC-1000002", "Leeds Heritage Society", "registered", "Arts, culture, heritage"]
    norwich = ["GB-CHC-1000004", "Friends of Norwich Library", "registered", "Libraries"]
    return [
        HEADER.split(","),
        [*oxford, "South East", "OX1 2AB", 12345.67, dt.date(2001, 5, 17), "", "Trust"],
        [*leeds, "Yorkshire", "LS1 4AP", 860.38, dt.date(1994, 12, 17), "", "CIO"],
        [*norwich, "East of England", "NR2 1AW", 2500, "", "https://www.example.org.uk", "CIO"],
    ]


def zip_bomb() -> bytes:
    """Return a workbook whose sheet inflates to 110 MB of spaces from about 110 KB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in (
            ("[Content_Types].xml", b'<?xml version="1.0"?><Types/>'),
            ("xl/workbook.xml", b'<?xml version="1.0"?><workbook/>'),
            ("xl/worksheets/sheet1.xml", b" " * (110 * 1024 * 1024)),
        ):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buffer.getvalue()


def plain_zip() -> bytes:
    """Return a zip holding one text file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("register/readme.txt", date_time=ZIP_TIME)
        archive.writestr(info, "The register is in register.csv.\n")
    return buffer.getvalue()


def main() -> None:
    """Write the corpus."""
    write("valid.csv", csv_text(*ROWS))
    write("header_only.csv", csv_text())
    write("empty.csv", b"")
    write("image_png_renamed.csv", png())
    write("pdf_renamed.csv", pdf())
    write("binary_garbage.csv", random.Random(7).randbytes(2048))
    write("nul_byte.csv", csv_text(ROWS[0], ROWS[1].replace("Leeds", "Le\x00eds"), ROWS[2]))

    # Encodings: Windows-1252 has ’ and – where Latin-1 has control codes; both have £ é.
    write(
        "cp1252.csv",
        csv_text(
            ROWS[0],
            ROWS[1].replace("Leeds Heritage Society", "Café Society – Leeds"),
            ROWS[2].replace("St Mary's Church Bath", "St Mary’s £5 Appeal"),
        ),
        "cp1252",
    )
    write(
        "latin1.csv",
        csv_text(ROWS[0], ROWS[1].replace("Leeds Heritage Society", "Café £1 Club")),
        "latin-1",
    )
    write("utf8_bom.csv", csv_text(*ROWS[:2]), "utf-8-sig")
    tab_rows = [
        "GB-CHC-1000001\tCafé Kraków Twinning Association\tregistered\tOverseas aid\tLondon"
        "\tN1 9GU\t4200\t2003-07-01\t\tCIO",
        "GB-CHC-1000002\tLeeds Heritage Society\tregistered\tArts, culture, heritage and science"
        "\tYorkshire and the Humber\tLS1 4AP\t860.38\t1994-12-17\t\tTrust",
    ]
    write("utf16_tabs.txt", csv_text(*tab_rows, header=HEADER.replace(",", "\t")), "utf-16")

    # Delimiters and line endings.
    write(
        "semicolons.csv",
        csv_text(
            "GB-CHC-1000001;Oxford Community Trust;registered;Education/training;South East;"
            "OX1 2AB;12345.67;2001-05-17;https://www.example.org.uk;Trust",
            'GB-CHC-1000002;"Leeds; Bradford and District Trust";registered;'
            "Relief of poverty;Yorkshire and the Humber;LS1 4AP;860.38;1994-12-17;;CIO",
            header=HEADER.replace(",", ";"),
        ),
    )
    write("tabs.tsv", csv_text(*tab_rows, header=HEADER.replace(",", "\t")))
    write(
        "pipes.csv",
        csv_text(
            *(row.replace(",", "|") for row in (ROWS[0], ROWS[3])), header=HEADER.replace(",", "|")
        ),
    )
    write(
        "mixed_line_endings.csv",
        HEADER + "\r\n" + ROWS[0] + "\n" + ROWS[2] + "\r" + ROWS[3] + "\r\n",
    )
    write(
        "quoted_newlines.csv",
        csv_text(
            ROWS[0].replace(
                "Oxford Community Trust", '"Oxford Community Trust\r\n(formerly Oxford Aid)"'
            ),
            ROWS[1].replace("Leeds Heritage Society", '"Leeds\nHeritage\nSociety"'),
            ROWS[2],
        ),
    )

    # Row shapes and headers.
    write("ragged_too_many.csv", csv_text(ROWS[0], ROWS[1], ROWS[2] + ",unexpected", ROWS[3]))
    write(
        "short_rows.csv",
        csv_text(ROWS[0], "GB-CHC-1000006,Bath Lido Trust,registered", ROWS[3] + ",,"),
    )
    write(
        "duplicate_headers.csv",
        csv_text(ROWS[0], header=HEADER.replace("postcode", "Name ")),
    )
    write(
        "blank_header_with_data.csv",
        csv_text(ROWS[0], ROWS[1], header=HEADER.replace("region", "")),
    )

    # Files the reader reads, for the import to judge.
    write("duplicate_references.csv", csv_text(*ROWS[:4], ROWS[4].replace("1000005", "1000002")))
    write(
        "missing_reference_column.csv",
        csv_text(*(row.partition(",")[2] for row in ROWS[:2]), header=HEADER.partition(",")[2]),
    )
    write("invalid_dates.csv", csv_text(ROWS[0], ROWS[1].replace("1994-12-17", "31/02/1994")))
    write(
        "invalid_numbers.csv",
        csv_text(ROWS[0], ROWS[1].replace("860.38", "about 800"), ROWS[3].replace("2500", "1.2.3")),
    )
    write("numbers_too_large.csv", csv_text(ROWS[0], ROWS[1].replace("860.38", "1e30")))
    write("invalid_choices.csv", csv_text(ROWS[0], ROWS[1].replace(",registered,", ",bogus,")))
    write(
        "value_too_long.csv",
        csv_text(ROWS[0], ROWS[1].replace("Leeds Heritage Society", LONG_NAME)),
    )
    write(
        "formulas.csv",
        csv_text(
            ROWS[0].replace("Oxford Community Trust", "=cmd|' /C calc'!A0"),
            ROWS[1].replace("Leeds Heritage Society", "@SUM(1+1)"),
            ROWS[2].replace("St Mary's Church Bath", "-2+3+cmd|' /C calc'!A0"),
            ROWS[3].replace("Friends of Norwich Library", "+44 20 7946 0000"),
        ),
    )
    write(
        "escaped_formulas.csv",
        csv_text(
            ROWS[0].replace("Oxford Community Trust", "'=SUM(A1:A3)"),
            ROWS[1].replace("Leeds Heritage Society", "'@Leeds"),
            ROWS[2].replace("St Mary's Church Bath", "''=already escaped"),
        ),
    )

    # XLSX.
    rows = xlsx_rows()
    write("valid.xlsx", xlsx({"Data": rows}))
    write(
        "several_sheets.xlsx",
        xlsx(
            {
                "Data": rows,
                "Notes": [["note"], ["Imported from the 2025 register"]],
                "Lookup": [["status"], ["registered"]],
            }
        ),
    )
    write(
        "formula.xlsx",
        xlsx({"Data": rows}, formulas={"Data": {"G4": ("=SUM(G2:G3)", 13206.05)}}),
    )
    write("password_protected.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    valid = (CORPUS / "valid.xlsx").read_bytes()
    write("truncated.xlsx", valid[: len(valid) // 2])
    write("zip_bomb.xlsx", zip_bomb())
    write("zip_not_xlsx.xlsx", plain_zip())


if __name__ == "__main__":
    main()
