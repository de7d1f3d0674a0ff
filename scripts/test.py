"""`make test`: a browser, a throwaway PostgreSQL (unless DATABASE_URL is set), pytest."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from scripts.browser import ensure_chromium
from scripts.embedded_pg import database


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    chromium = ensure_chromium()
    env = dict(os.environ)
    if chromium:
        env["CHROMIUM_PATH"] = chromium
    with database("records_desk", throwaway=True) as url:
        env["DATABASE_URL"] = url
        return subprocess.run([sys.executable, "-m", "pytest", *argv], env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
