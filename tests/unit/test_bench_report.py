"""bench/report.py: medians, and ratios that read "how many times better ours is"."""

from __future__ import annotations

from bench.report import Result


def test_a_throughput_ratio_is_ours_over_theirs():
    result = Result(
        name="import",
        unit="rows/s",
        runs=[30_000, 10_000, 20_000],
        baseline_name="django-import-export",
        baseline_runs=[1_000, 900, 1_100],
        floor_name="COPY",
        floor_runs=[400_000],
    )
    data = result.as_json()
    assert data["median"] == 20_000
    assert data["runs"] == [30_000, 10_000, 20_000]
    assert data["baseline_median"] == 1_000
    assert data["ratio"] == 20
    assert data["floor_ratio"] == 0.05


def test_a_time_ratio_is_theirs_over_ours():
    result = Result(
        name="page", unit="ms", runs=[50, 40, 60], baseline_name="admin", baseline_runs=[400]
    )
    assert result.as_json()["ratio"] == 8


def test_a_measurement_without_comparator_has_no_ratio():
    data = Result(name="errors", unit="errors", runs=[0]).as_json()
    assert data == {"name": "errors", "unit": "errors", "median": 0, "runs": [0]}
