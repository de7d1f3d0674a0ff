"""A row's fingerprint is stored with its record (Record.source_hash) and compared by
every later import: the same cells under the same column map must give the same number
in every version of the code, or every record would be parsed and compared again."""

from records.services.imports.rows import ColumnMap, RowParser

COLUMNS = ColumnMap(("Reference", "Name", "Notes"), ("reference", "name", "extra:notes"))


def test_a_csv_row_keeps_the_fingerprint_stored_by_earlier_versions():
    assert RowParser(COLUMNS).fingerprint(["GB-1", "Acme Trust", "café"]) == 4828982390755718071


def test_an_xlsx_row_keeps_the_fingerprint_stored_by_earlier_versions():
    assert RowParser(COLUMNS).fingerprint(["GB-1", 12.5, None]) == -2681795254615552923


def test_the_column_map_and_every_cell_count():
    parser = RowParser(COLUMNS)
    cells = ["GB-1", "Acme Trust", "café"]
    renamed = ColumnMap(("Reference", "Name", "Remarks"), ("reference", "name", "extra:remarks"))
    assert parser.fingerprint(cells) != RowParser(renamed).fingerprint(cells)
    assert parser.fingerprint(cells) != parser.fingerprint(["GB-1", "Acme Trust", "cafe"])
    # The parser is reused for every row of a file: hashing one row leaves it unchanged.
    assert parser.fingerprint(cells) == parser.fingerprint(list(cells))
