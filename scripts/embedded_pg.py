"""Run a private PostgreSQL for `make run`, `make test` and `make bench`.

Used only when DATABASE_URL is not set. Two implementations, tried in order:

* pgserver: PostgreSQL 16 from a wheel (Linux x86-64, macOS, Windows; CPython <= 3.12).
* the system's PostgreSQL binaries (`pg_config --bindir`, /usr/lib/postgresql/*/bin),
  started with initdb and pg_ctl.

Their data directories are incompatible, so each keeps its own. PostgreSQL refuses to
run as root: as root both run the server as an unprivileged user, and the data lives
under /var/tmp (pgserver makes every parent of its data directory world-readable, which
must not happen to a home directory); `.data/<name>` is then a symlink to it.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger("embedded_pg")

# pgserver keeps its lock file in the user's runtime directory and platformdirs warns,
# harmlessly, when XDG_RUNTIME_DIR is unset (as it is under sudo, CI and containers).
warnings.filterwarnings("ignore", module="platformdirs")

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / ".data"

# Settings for a developer's laptop-sized server; the throwaway test server also skips
# durability, which a test database never needs.
TUNING = {
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    "work_mem": "32MB",
    "maintenance_work_mem": "256MB",
}
THROWAWAY_TUNING = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
# Read at start only: set, then the server is restarted once. A million-record register
# and its indexes are about 1 GB; with the default 128 MB, a search that matches many
# records reads most of their pages from the operating system again on every request.
# The throwaway test server keeps the default.
RESTART_TUNING = {"shared_buffers": "1GB"}


class EmbeddedPostgresError(RuntimeError):
    pass


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _data_dir(name: str, *, throwaway: bool) -> Path:
    """Return the directory for a server's data, creating its parent."""
    DATA.mkdir(exist_ok=True)
    if throwaway:
        base = Path(tempfile.mkdtemp(prefix=f"{name}-", dir="/var/tmp" if _is_root() else DATA))
        base.chmod(0o755)  # the server's own user must reach its data directory
        return base / "pgdata"
    if not _is_root():
        return DATA / name
    digest = hashlib.sha1(str(REPO).encode()).hexdigest()[:12]
    real = Path("/var/tmp/records-desk") / digest / name
    real.parent.mkdir(parents=True, exist_ok=True)
    link = DATA / name
    if not link.is_symlink():
        if link.exists():
            shutil.rmtree(link)
        link.symlink_to(real, target_is_directory=True)
    return real


def _system_bindir() -> Path | None:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if (Path(out) / "initdb").exists():
            return Path(out)
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    return Path(candidates[-1]).parent if candidates else None


class _PgServer:
    """PostgreSQL from the pgserver wheel."""

    label = "pgserver"

    def __init__(self, pgdata: Path, *, throwaway: bool):
        import pgserver  # noqa: PLC0415 - optional: no wheel on some platforms

        self.pgdata, self.throwaway = pgdata, throwaway
        self._server = pgserver.get_server(pgdata, cleanup_mode="delete" if throwaway else "stop")

    def uri(self) -> str:
        return self._server.get_uri("postgres")

    def restart(self) -> None:
        from pgserver._commands import pg_ctl  # noqa: PLC0415 - as above

        # Without -o, pg_ctl restarts with the options the server was started with.
        pg_ctl(
            ["-w", "-l", str(self._server.log), "restart"],
            pgdata=self.pgdata,
            user=self._server.system_user,
            timeout=60,
        )

    def stop(self) -> None:
        self._server.cleanup()
        if self.throwaway:
            shutil.rmtree(self.pgdata.parent, ignore_errors=True)


class _SystemPostgres:
    """PostgreSQL from the machine's own binaries, run with initdb and pg_ctl."""

    label = "system"

    def __init__(self, pgdata: Path, *, throwaway: bool):
        bindir = _system_bindir()
        if bindir is None:
            raise EmbeddedPostgresError(
                "No PostgreSQL found: install pgserver (a supported platform) or the "
                "postgresql package, or set DATABASE_URL."
            )
        self.bindir, self.pgdata, self.throwaway = bindir, pgdata, throwaway
        self.user = None
        if _is_root():
            self.user = "postgres" if _user_exists("postgres") else "nobody"
        pgdata.mkdir(parents=True, exist_ok=True)
        pgdata.chmod(0o700)
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(pgdata, entry.pw_uid, entry.pw_gid)
        if not (pgdata / "PG_VERSION").exists():
            self._run(
                "initdb",
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            )
        if not self._running():
            self._run(
                "pg_ctl",
                "-D",
                str(pgdata),
                "-l",
                str(pgdata / "server.log"),
                "-w",
                "-o",
                f"-h '' -k {pgdata}",
                "start",
            )

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)

    def _running(self) -> bool:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return False
        pid = int(pid_file.read_text().split()[0])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def uri(self) -> str:
        return f"postgresql://postgres:@/postgres?host={quote(str(self.pgdata))}"

    def restart(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.pgdata), "-l", str(self.pgdata / "server.log"), "-w", "restart"
        )

    def stop(self) -> None:
        if self._running():
            self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop")
        if self.throwaway:
            shutil.rmtree(self.pgdata.parent, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _implementations() -> list[type]:
    choice = os.environ.get("EMBEDDED_PG", "").strip().lower()
    if choice == "system":
        return [_SystemPostgres]
    if choice == "pgserver":
        return [_PgServer]
    return [_PgServer, _SystemPostgres]


def _connect(uri: str):
    import psycopg  # noqa: PLC0415 - only once the virtualenv is installed

    return psycopg.connect(uri, autocommit=True)


def with_database(uri: str, dbname: str) -> str:
    """Return the URI of another database on the same server."""
    base, _, query = uri.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{dbname}" + (f"?{query}" if query else "")


def create_database(uri: str, dbname: str) -> str:
    """Create `dbname` if it does not exist yet and return its URI."""
    with _connect(uri) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')
    return with_database(uri, dbname)


@contextlib.contextmanager
def embedded_postgres(name: str = "postgres", *, throwaway: bool = False) -> Iterator[str]:
    """Start (or re-attach to) a private server and yield its URI; stop it on exit."""
    errors = []
    server = None
    for implementation in _implementations():
        pgdata = _data_dir(f"{name}-{implementation.label}", throwaway=throwaway)
        try:
            server = implementation(pgdata, throwaway=throwaway)
            break
        except (ImportError, OSError, subprocess.CalledProcessError, EmbeddedPostgresError) as exc:
            errors.append(f"{implementation.label}: {exc}")
            if throwaway:
                shutil.rmtree(pgdata.parent, ignore_errors=True)
    if server is None:
        raise EmbeddedPostgresError("Could not start PostgreSQL:\n  " + "\n  ".join(errors))
    try:
        uri = server.uri()
        if _tune(uri, throwaway=throwaway):
            log.info("Restarting PostgreSQL (%s) for its memory settings", server.label)
            server.restart()
        log.info("PostgreSQL (%s) ready at %s", server.label, uri)
        yield uri
    finally:
        server.stop()


def _tune(uri: str, *, throwaway: bool) -> bool:
    """Apply the settings; return whether some wait for a restart."""
    settings = TUNING | (THROWAWAY_TUNING if throwaway else RESTART_TUNING)
    with _connect(uri) as conn:
        for name, value in settings.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        conn.execute("SELECT pg_reload_conf()")
        # A reload is asynchronous; give the postmaster a moment before the first test.
        time.sleep(0.1)
        (pending,) = conn.execute(
            "SELECT count(*) FROM pg_settings WHERE pending_restart"
        ).fetchone()
    return bool(pending)


@contextlib.contextmanager
def database(dbname: str, *, throwaway: bool = False) -> Iterator[str]:
    """Yield DATABASE_URL if it is set, else the URI of `dbname` on an embedded server."""
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    with embedded_postgres(
        "postgres-test" if throwaway else "postgres", throwaway=throwaway
    ) as uri:
        yield create_database(uri, dbname)
