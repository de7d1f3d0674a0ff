"""bench/child.py: a child's peak memory is its own, whatever its parent holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_child_of_a_large_process_reports_its_own_peak_memory():
    # getrusage's ru_maxrss survives exec: a child reading it would report this
    # process's size (at least the 400 MB held here) instead of its own.
    held = bytearray(400 * 1024 * 1024)
    held[::4096] = b"\x01" * len(range(0, len(held), 4096))
    output = subprocess.run(
        [sys.executable, "-c", "from bench.child import peak_mb; print(peak_mb())"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert 1 < float(output) < 200
    del held
