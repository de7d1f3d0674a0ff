"""What every section of the bench is given: the scale, the database, the report."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.database import Scale
from bench.report import Report

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Context:
    scale: Scale
    runs: int
    report: Report
    admin_uri: str  # the server's maintenance database
    uri: str  # the bench database
    files: Path  # where generated source files and exports are kept
    env: dict[str, str]  # the environment of child processes (settings, DATABASE_URL)

    def child(self, task: dict, *, uri: str | None = None) -> dict:
        """Run one task of bench/child.py in a fresh process; return what it reported."""
        env = self.env | {"DATABASE_URL": uri or self.uri}
        done = subprocess.run(
            [sys.executable, "-m", "bench.child", json.dumps(task)],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"bench child {task} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of the values fall (nearest rank, as load tools use)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]
