from __future__ import annotations

from django.apps import AppConfig


class RecordsConfig(AppConfig):
    name = "records"
    verbose_name = "Register"

    def ready(self) -> None:
        from records.tables import remember_render_signatures  # noqa: PLC0415 - apps loaded

        remember_render_signatures()
