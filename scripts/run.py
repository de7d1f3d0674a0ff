"""`make run`: database, migrations, demo data, web server and worker, until Ctrl-C.

DATABASE_URL wins if set; otherwise an embedded PostgreSQL under .data/ starts here and
stops when this does. The demo password is $DEMO_PASSWORD, or generated once and kept
in .data/demo_password so it stays the same from one run to the next.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time

from scripts.embedded_pg import DATA, REPO, database

PORT = int(os.environ.get("PORT", "8000"))
DEMO_ROWS = os.environ.get("DEMO_ROWS", "20000")


def _secret(name: str, make) -> str:
    """Return a value kept in .data/<name>, creating it on first use."""
    DATA.mkdir(exist_ok=True)
    path = DATA / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _manage(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, check=True)


def _spawn(*args: str, env: dict) -> subprocess.Popen:
    # A session of its own: Ctrl-C reaches this script only, which then stops the
    # children in order (and the database last).
    return subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, start_new_session=True
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _wait_for_port(port: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    stop = {"requested": False}

    def request_stop(signum, frame):
        stop["requested"] = True

    # Scripts started in the background inherit an ignored SIGINT: install both.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    url_file = DATA / "database_url"
    with database("records_desk") as url:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=url,
            DEBUG=env.get("DEBUG", "1"),
            SECRET_KEY=env.get("SECRET_KEY")
            or _secret("secret_key", lambda: secrets.token_urlsafe(50)),
            DEMO_PASSWORD=env.get("DEMO_PASSWORD")
            or _secret("demo_password", lambda: secrets.token_urlsafe(9)),
            PYTHONUNBUFFERED="1",
        )
        url_file.write_text(url)
        children: list[subprocess.Popen] = []
        try:
            _manage("migrate", "--noinput", env=env)
            _manage("seed_demo", "--rows", DEMO_ROWS, env=env)
            children.append(_spawn("procrastinate", "worker", env=env))
            children.append(_spawn("runserver", f"127.0.0.1:{PORT}", env=env))
            if _wait_for_port(PORT):
                print(
                    f"\n  Records Desk is running at http://127.0.0.1:{PORT}/\n"
                    f"  Log in as viewer, editor, manager or admin with the password "
                    f"{env['DEMO_PASSWORD']}\n  Press Ctrl-C to stop.\n",
                    flush=True,
                )
            while not stop["requested"]:
                if any(child.poll() is not None for child in children):
                    print("A process stopped unexpectedly; shutting down.", file=sys.stderr)
                    return 1
                time.sleep(0.5)
        except subprocess.CalledProcessError as error:
            print(f"Set-up failed: {error}", file=sys.stderr)
            return 1
        finally:
            for child in reversed(children):
                _stop(child)
            url_file.unlink(missing_ok=True)
            print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
