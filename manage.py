#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")
    # manage.py is the developer's tool: debug settings unless told otherwise. Servers
    # and workers in production set DEBUG=0 (docker/.env.example); wsgi.py never
    # defaults it.
    os.environ.setdefault("DEBUG", "1")
    from django.core.management import execute_from_command_line  # noqa: PLC0415 - after settings

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
