"""Measurements, their medians, and the two ways they are reported (a table and JSON).

Each measurement in bench/results.json has `name`, `unit`, `median` and `runs` (every
run's figure); where there is a familiar alternative, `baseline_name`,
`baseline_median` and `ratio`; where there is a physical floor, `floor_name`,
`floor_median` and `floor_ratio`. A ratio says how many times better ours is than the
other: for a throughput (rows/s) ours ÷ theirs, for a time or a size theirs ÷ ours. So
a ratio above 1 is ours winning, and a floor ratio is at most about 1.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# Units where more is better; for every other unit (ms, s, MB, queries) less is better.
HIGHER_IS_BETTER = {"rows/s", "requests/s"}


@dataclass
class Result:
    name: str
    unit: str
    runs: list[float]
    baseline_name: str | None = None
    baseline_runs: list[float] = field(default_factory=list)
    floor_name: str | None = None
    floor_runs: list[float] = field(default_factory=list)
    target: str | None = None
    details: dict = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def baseline_median(self) -> float | None:
        return statistics.median(self.baseline_runs) if self.baseline_runs else None

    @property
    def floor_median(self) -> float | None:
        return statistics.median(self.floor_runs) if self.floor_runs else None

    def _ratio(self, other: float | None) -> float | None:
        if other is None or not self.median or not other:
            return None
        if self.unit in HIGHER_IS_BETTER:
            return self.median / other
        return other / self.median

    @property
    def ratio(self) -> float | None:
        return self._ratio(self.baseline_median)

    @property
    def floor_ratio(self) -> float | None:
        return self._ratio(self.floor_median)

    def as_json(self) -> dict:
        data = {"name": self.name, "unit": self.unit, "median": _round(self.median)}
        data["runs"] = [_round(run) for run in self.runs]
        if self.baseline_name:
            data |= {
                "baseline_name": self.baseline_name,
                "baseline_median": _round(self.baseline_median),
                "ratio": _round(self.ratio),
            }
        if self.floor_name:
            data |= {
                "floor_name": self.floor_name,
                "floor_median": _round(self.floor_median),
                "floor_ratio": _round(self.floor_ratio),
            }
        if self.target:
            data["target"] = self.target
        return data | self.details


def _round(value: float | None) -> float | None:
    if value is None:
        return None
    return round(value, 3) if abs(value) < 100 else round(value, 1)


def _figure(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
    return f"{text} {unit}".strip()


class Report:
    """The results of one run of the bench, printed as they arrive and saved at the end."""

    def __init__(self, *, scale: dict):
        self.scale = scale
        self.results: list[Result] = []

    def add(self, result: Result) -> Result:
        self.results.append(result)
        print(self.line(result), flush=True)
        return result

    @staticmethod
    def line(result: Result) -> str:
        parts = [f"{result.name:<42} {_figure(result.median, result.unit):>16}"]
        if result.baseline_name:
            parts.append(
                f"{result.baseline_name} {_figure(result.baseline_median, result.unit)}"
                f" (×{result.ratio:.1f})"
                if result.ratio is not None
                else result.baseline_name
            )
        if result.floor_name and result.floor_ratio is not None:
            parts.append(
                f"{result.floor_name} {_figure(result.floor_median, result.unit)}"
                f" (×{result.floor_ratio:.2f})"
            )
        if result.target:
            parts.append(f"target {result.target}")
        return "  ".join(parts)

    def table(self) -> str:
        return "\n".join(self.line(result) for result in self.results)

    def save(self, path: Path, *, started: str, seconds: float) -> None:
        data = {
            "taken": started,
            "seconds": round(seconds),
            "machine": machine(),
            "scale": self.scale,
            "results": [result.as_json() for result in self.results],
        }
        path.write_text(json.dumps(data, indent=2) + "\n")


def machine() -> dict:
    """What the figures were taken on, for the README."""
    memory = 0
    try:
        with open("/proc/meminfo") as meminfo:
            memory = int(meminfo.readline().split()[1]) // 1024 // 1024
    except OSError:
        pass
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in cpuinfo
                    if line.startswith("model name")
                ),
                cpu,
            )
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory,
        "python": platform.python_version(),
        "commit": commit,
    }
