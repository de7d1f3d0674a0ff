"""The source files the bench imports: the demo register, refreshed again and again.

`source_rows(n, refreshes=k)` is what the data team's source would send after k monthly
refreshes: refresh j changes a tenth of the register (rows whose number ends in j-1):
their income moves by 5%, and one in ten of them is renamed. So refresh k+1 differs
from refresh k in exactly 10% of the rows, and re-sending refresh k changes nothing.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from records.demo import EXTRA_COLUMNS, demo_rows
from records.fields import CORE_FIELDS, FIELD_NAMES

SEED = 1
HEADERS = [*FIELD_NAMES, *EXTRA_COLUMNS]


def source_rows(n: int, *, refreshes: int = 0, seed: int = SEED) -> Iterator[dict]:
    for i, row in enumerate(demo_rows(n, seed=seed)):
        for refresh in range(1, refreshes + 1):
            if i % 10 == (refresh - 1) % 10:
                income = row["income"] or Decimal("1000.00")
                row["income"] = (income * Decimal("1.05")).quantize(Decimal("0.01"))
                if i % 100 < 10:
                    row["name"] = f"{row['name']} ({refresh})"
        yield row


def write_csv(path: Path, rows: Iterator[dict]) -> int:
    """Write rows as a register's CSV would come: each value's canonical text."""
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADERS)
        for count, row in enumerate(rows, 1):  # noqa: B007 - the count is returned
            extra = row["extra"]
            writer.writerow(
                [
                    *(core.to_text(row[core.name]) for core in CORE_FIELDS),
                    *(extra.get(key, "") for key in EXTRA_COLUMNS),
                ]
            )
    return count


def source_file(directory: Path, n: int, *, refreshes: int = 0) -> Path:
    """The source file after `refreshes` refreshes, written once and kept."""
    path = directory / f"source-{n}-r{refreshes}.csv"
    if not path.exists():
        partial = path.with_suffix(".part")
        write_csv(partial, source_rows(n, refreshes=refreshes))
        partial.rename(path)
    return path
