"""One import, export or load run, alone in a fresh process (so its peak memory is its own).

`python -m bench.child '{"task": "import", …}'` prints one line of JSON: the task's
timings, the rows it handled and the process's peak resident memory. The parent
(bench/imports.py, bench/exports.py) sets DATABASE_URL and the settings.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    import django  # noqa: PLC0415 - settings come from the parent's environment

    django.setup()
    task = json.loads(argv[0])
    result = TASKS[task.pop("task")](**task)
    result["peak_mb"] = peak_mb()
    print(json.dumps(result))
    return 0


def peak_mb() -> float:
    """This process's peak resident memory, in MB.

    Linux's VmHWM where there is one: getrusage's ru_maxrss survives exec, so a child
    of the bench's own process (hundreds of MB after the pages) reported its parent's
    size whenever that was larger than its own.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_import(*, org: str, path: str, user: str = "manager", reason: str) -> dict:
    from accounts.models import Membership, Organisation, Role, User  # noqa: PLC0415
    from bench.dataset import timed_import  # noqa: PLC0415
    from records.models import ImportRun  # noqa: PLC0415

    organisation, _ = Organisation.objects.get_or_create(slug=org, defaults={"name": org})
    person = User.objects.get(username=user)
    Membership.objects.get_or_create(
        user=person, organisation=organisation, defaults={"role": Role.MANAGER}
    )
    started = time.perf_counter()
    run, phases = timed_import(organisation, person, Path(path), reason=reason)
    seconds = time.perf_counter() - started
    if run.status != ImportRun.Status.APPLIED:
        raise SystemExit(f"import of {path} ended {run.status}: {run.error}")
    return {"seconds": seconds, "counts": run.counts, **phases}


def run_export(*, org: str, format: str, path: str) -> dict:
    from django.http import QueryDict  # noqa: PLC0415

    from accounts.models import Organisation  # noqa: PLC0415
    from records.services.exports import export_csv, export_xlsx  # noqa: PLC0415
    from records.services.exports.view import records_view  # noqa: PLC0415

    organisation = Organisation.objects.get(slug=org)
    writer = {"csv": export_csv, "xlsx": export_xlsx}[format]
    started = time.perf_counter()
    view = records_view(organisation=organisation, params=QueryDict())
    with open(path, "wb") as out:
        rows = writer(queryset=view.queryset, columns=view.columns, out=out)
    return {"seconds": time.perf_counter() - started, "rows": rows}


def run_familiar_import(*, org: str, path: str, format: str) -> dict:
    """django-import-export's own import, as its admin runs it: load the file, import_data."""
    import tablib  # noqa: PLC0415

    from accounts.models import Organisation  # noqa: PLC0415
    from bench.familiar import FamiliarResource  # noqa: PLC0415

    organisation, _ = Organisation.objects.get_or_create(slug=org, defaults={"name": org})
    started = time.perf_counter()
    mode = "rb" if format == "xlsx" else "r"
    with open(path, mode) as handle:
        dataset = tablib.Dataset().load(handle.read(), format=format)
    dataset.append_col([organisation.pk] * len(dataset), header="organisation_id")
    result = FamiliarResource().import_data(
        dataset, dry_run=False, raise_errors=True, use_transactions=True
    )
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(dataset), "totals": dict(result.totals)}


def run_familiar_export(*, org: str, format: str, rows: int) -> dict:
    """django-import-export's own export of the register's first rows, in its columns."""
    from accounts.models import Organisation  # noqa: PLC0415
    from records.resources import RecordResource  # noqa: PLC0415
    from records.selectors import records_for  # noqa: PLC0415

    organisation = Organisation.objects.get(slug=org)
    started = time.perf_counter()
    resource = RecordResource(organisation=organisation)
    dataset = resource.export(queryset=records_for(organisation).order_by("reference")[:rows])
    content = dataset.export(format)
    return {"seconds": time.perf_counter() - started, "rows": len(dataset), "size": len(content)}


def run_load(*, port: int, clients: int, seconds: float) -> dict:
    from bench.load import generate  # noqa: PLC0415

    return generate(port, clients, seconds)


TASKS = {
    "load": run_load,
    "import": run_import,
    "export": run_export,
    "familiar-import": run_familiar_import,
    "familiar-export": run_familiar_export,
}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
