"""Under load: gunicorn with production settings, 32 logged-in people on the records browser.

gunicorn runs as the Dockerfile runs it (4 workers × 1 thread, DEBUG off, static files
collected and served by whitenoise), on loopback, as if behind a TLS proxy (it is told
so by X-Forwarded-Proto). Each client logs in through the login form, opens the browser
page, then changes filters as a person would: mostly the HTMX requests that swap the
results in place, sometimes a full page load, each with a varied filter, search, sort
or page, one after another without pause, for 30 seconds. The load generator is threads
with keep-alive connections in a process of its own (bench/child.py).

Reported: requests per second, p50 and p99 latency as the clients saw it, and errors
(anything but a 200, or a failed connection).
"""

from __future__ import annotations

import http.client
import random
import re
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlencode

from bench.context import REPO, Context, percentile
from bench.database import PASSWORD
from bench.report import Result

CLIENTS = 32
SECONDS = 30
WORKERS, THREADS = 4, 1

FILTERS = [
    {},
    {"status": "registered"},
    {"status": "removed"},
    {"category": "Education/training"},
    {"category": "Relief of poverty"},
    {"region": "London"},
    {"region": "South West"},
    {"income_min": "10000", "income_max": "100000"},
    {"registered_on_after": "1990-01-01", "registered_on_before": "1999-12-31"},
    {"q": "trust"},
    {"q": "church"},
    {"q": "oxford"},
    {"q": "GB-CHC-10012"},
    {"q": "friends", "region": "London"},
    {"sort": "name"},
    {"sort": "-income"},
    {"page": "2"},
    {"page": "40"},
    {"status": "registered", "sort": "-registered_on", "page": "3"},
]


def run(ctx: Context) -> None:
    print(f"\nUnder load ({CLIENTS} clients, {SECONDS}s, gunicorn {WORKERS}×{THREADS})", flush=True)
    env = ctx.env | {
        "DATABASE_URL": ctx.uri,
        "DEBUG": "0",
        "BEHIND_TLS_PROXY": "1",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CONN_MAX_AGE": "60",
    }
    env.pop("SECURE_SSL_REDIRECT", None)
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "site_config.wsgi",
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(WORKERS), "--threads", str(THREADS), "--timeout", "120",
            "--forwarded-allow-ips", "*", "--log-level", "warning",
        ],
        env=env,
        cwd=REPO,
    )  # fmt: skip
    try:
        _wait_for(port)
        # The generator runs in a process of its own, as bench/child.py's "load" task.
        figures = ctx.child({"task": "load", "port": port, "clients": CLIENTS, "seconds": SECONDS})
    finally:
        server.terminate()
        server.wait(timeout=30)
    details = {"clients": CLIENTS, "seconds": SECONDS, "requests": figures["requests"]}
    ctx.report.add(
        Result(name="under load: throughput", unit="requests/s", runs=[figures["rps"]],
               details=details)
    )  # fmt: skip
    ctx.report.add(Result(name="under load: p50 latency", unit="ms", runs=[figures["p50"]]))
    ctx.report.add(
        Result(
            name="under load: p99 latency", unit="ms", runs=[figures["p99"]], target="≤ 1,000 ms"
        )
    )
    ctx.report.add(
        Result(name="under load: errors", unit="errors", runs=[figures["errors"]], target="0",
               details={"first_errors": figures["first_errors"]})
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not start on port {port}")


# The load generator (bench/child.py runs `generate` in a process of its own).


class Person:
    """One logged-in client on a keep-alive connection, like a browser tab."""

    def __init__(self, port: int, seed: int):
        self.port = port
        self.origin = f"https://127.0.0.1:{port}"
        self.cookies: dict[str, str] = {}
        self.rng = random.Random(seed)
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: str | None = None, headers=None):
        headers = {
            "Host": f"127.0.0.1:{self.port}",
            "X-Forwarded-Proto": "https",
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            **(headers or {}),
        }
        try:
            response, content = self._send(method, path, body, headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed the kept-alive connection as the request went out: a
            # browser sends it again on a new connection, and so does this client.
            self.connection.close()
            response, content = self._send(method, path, body, headers)
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, content

    def _send(self, method: str, path: str, body, headers):
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            return response, response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            raise

    def log_in(self, username: str) -> None:
        status, page = self.request("GET", "/accounts/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
        form = urlencode({"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token})
        status, _ = self.request(
            "POST",
            "/accounts/login/",
            body=form,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": self.origin,
                "Referer": f"{self.origin}/accounts/login/",
            },
        )
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login of {username} failed ({status})")

    def next_request(self) -> tuple[str, dict]:
        params = urlencode(self.rng.choice(FILTERS))
        path = "/o/bench/records/" + (f"?{params}" if params else "")
        if self.rng.random() < 0.2:
            return path, {}
        return path, {"HX-Request": "true", "HX-Target": "record-results"}


def generate(port: int, clients: int, seconds: float) -> dict:
    people = [Person(port, seed) for seed in range(clients)]
    for person in people:
        person.log_in("viewer")
        person.request("GET", "/o/bench/records/")
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def browse(person: Person, deadline_box: list[float]) -> None:
        start.wait()
        while time.monotonic() < deadline_box[0]:
            path, headers = person.next_request()
            began = time.monotonic()
            try:
                status, _ = person.request("GET", path, headers=headers)
                problem = None if status == 200 else f"{status} {path}"
            except (OSError, http.client.HTTPException) as error:
                problem = f"{type(error).__name__} {path}"
            elapsed = (time.monotonic() - began) * 1000
            with lock:
                if problem:
                    errors.append(problem)
                else:
                    latencies.append(elapsed)

    deadline_box = [0.0]
    threads = [threading.Thread(target=browse, args=(p, deadline_box)) for p in people]
    for thread in threads:
        thread.start()
    deadline_box[0] = time.monotonic() + seconds
    began = time.monotonic()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    done = len(latencies) + len(errors)
    return {
        "requests": done,
        "rps": done / elapsed,
        "p50": percentile(latencies, 0.5) if latencies else 0,
        "p99": percentile(latencies, 0.99) if latencies else 0,
        "errors": len(errors),
        "first_errors": errors[:5],
    }
