"""Find a Chromium for the Playwright tests, installing one if there is none.

Order: $CHROMIUM_PATH, a system Chromium, Debian's `chromium` package (as root, where
apt-get exists), then Playwright's own download. Prints nothing on success; returns the
executable to launch, or None when Playwright's own browser is to be used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    if path := os.environ.get("CHROMIUM_PATH"):
        return path
    for name in NAMES:
        if path := shutil.which(name):
            return path
    return None


def ensure_chromium() -> str | None:
    if path := find_chromium():
        return path
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if is_root and shutil.which("apt-get"):
        print("Installing Debian's chromium for the browser tests…", flush=True)
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        result = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"],
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
        )
        if result.returncode == 0 and (path := find_chromium()):
            return path
    print("Installing Playwright's Chromium for the browser tests…", flush=True)
    command = [sys.executable, "-m", "playwright", "install", "chromium"]
    if is_root:
        command.append("--with-deps")
    subprocess.run(command, check=True)
    return None


if __name__ == "__main__":
    print(ensure_chromium() or "playwright")
