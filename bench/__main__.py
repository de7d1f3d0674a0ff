"""`make bench` (`python -m bench`): see bench/__init__.py."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time

from bench import database
from bench.context import REPO, Context
from bench.report import Report

SECTIONS = ("pages", "load", "exports", "imports")
RESULTS = REPO / "bench" / "results.json"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100,000 rows instead of 1,000,000")
    parser.add_argument("--runs", type=int, default=3, help="repeats of each import and export")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the dataset")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    scale = database.QUICK if args.quick else database.FULL
    began, started = time.monotonic(), dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    with database.server() as admin_uri:
        uri = database.create_database_for(admin_uri, scale, rebuild=args.rebuild)
        env = _environment(uri)
        os.environ.update(env)
        import django  # noqa: PLC0415 - configured by the environment just set

        django.setup()
        from bench import dataset  # noqa: PLC0415 - needs Django

        files = REPO / ".data" / "bench"
        files.mkdir(parents=True, exist_ok=True)
        from django.core.management import call_command  # noqa: PLC0415

        details = database.built(uri)
        # A dataset kept from an earlier run gets the migrations added since.
        call_command("migrate", verbosity=0)
        if details is None:
            print(f"Building the bench dataset ({scale.rows:,} + {scale.other_rows:,} records)…")
            details = dataset.build(scale, files)
            _close_connections()
            database.vacuum_analyze(uri)
            database.mark_built(uri, details)
        print(f"Dataset: {details}")
        # Production settings serve static files from a manifest: collect them once.
        call_command("collectstatic", interactive=False, verbosity=0)
        report = Report(scale={"label": scale.label, **details})
        ctx = Context(
            scale=scale,
            runs=args.runs,
            report=report,
            admin_uri=admin_uri,
            uri=uri,
            files=files,
            env=env,
        )
        for name in args.only or SECTIONS:
            if name == "imports":
                _close_connections()  # the database is copied: nobody may be connected
            section = __import__(f"bench.{name}", fromlist=["run"])
            section.run(ctx)

    seconds = time.monotonic() - began
    print("\n" + report.table())
    if not args.only:
        report.save(RESULTS, started=started, seconds=seconds)
        print(f"\nWritten to {RESULTS.relative_to(REPO)} ({seconds / 60:.0f} min).")
    else:
        partial = RESULTS.with_name("results-partial.json")
        report.save(partial, started=started, seconds=seconds)
        print(f"\nSome sections only: written to {partial.relative_to(REPO)}.")
    return 0


def _environment(uri: str) -> dict[str, str]:
    """Production-like settings for this process and its children (gunicorn sets its own)."""
    return dict(os.environ) | {
        "DATABASE_URL": uri,
        "DJANGO_SETTINGS_MODULE": "site_config.settings",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-not-secret-" + "x" * 40,
        "ALLOWED_HOSTS": "testserver,127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        # As production: a process keeps its connection between requests.
        "CONN_MAX_AGE": "60",
    }


def _close_connections() -> None:
    from django.db import connections  # noqa: PLC0415

    connections.close_all()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
