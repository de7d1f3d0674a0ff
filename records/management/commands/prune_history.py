"""manage.py prune_history: delete history older than a date, deliberately and loudly."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Organisation
from records.services.retention import history_prune


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--before wants a date as YYYY-MM-DD, not “{text}”.") from None


class Command(BaseCommand):
    help = (
        "Delete the history rows of records older than a date (of one organisation, or of "
        "all). History is append-only: this is the only way rows are removed, it lifts the "
        "database's guard for its own transaction only, and it logs what it deleted. "
        "Without --yes it only says what it would delete."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--before", required=True, type=_date, help="Delete rows older than this day."
        )
        parser.add_argument("--org", help="Only this organisation (slug).")
        parser.add_argument(
            "--yes", action="store_true", help="Really delete (otherwise: a dry run)."
        )

    def handle(self, *args, before: dt.date, org: str | None, yes: bool, **options) -> None:
        organisation = None
        if org:
            organisation = Organisation.objects.filter(slug=org).first()
            if organisation is None:
                raise CommandError(f"No organisation with the slug “{org}”.")
        pruned = history_prune(before=before, organisation=organisation, dry_run=not yes)
        total = sum(item.rows for item in pruned)
        for item in pruned:
            self.stdout.write(f"  {item.organisation:<24} {item.channel:<8} {item.rows:>12,}")
        scope = f"of {org}" if org else "of every organisation"
        if not yes:
            self.stdout.write(
                f"Would delete {total:,} history rows {scope} older than {before}. "
                "Nothing deleted: pass --yes to delete them."
            )
        else:
            self.stdout.write(
                self.style.WARNING(f"Deleted {total:,} history rows {scope} older than {before}.")
            )
