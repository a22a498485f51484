"""Local servers that tests start for themselves: a free loopback port, and a redis-server.

No test may use the ports of the developer's ``make run`` (8000 for the site, 8001 for the Slack
stand-in): ``busy_dev_ports`` holds them for a whole run (SLACKINSTALL_BUSY_DEV_PORTS=1, set in
CI) so a test that reaches for them fails at once.

Several test folders start real processes (gunicorn, nginx, Redis, PgBouncer) on ports of their
own; this is the one place that picks those ports and starts Redis and PgBouncer, so the folders
do not copy it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def installed_program(name: str) -> str:
    """The path of ``name`` (on PATH, or in /usr/sbin and /sbin where Debian puts daemons). CI
    installs it (.ci/run): missing, the test fails in CI (CI=true) and is skipped locally, so a
    missing install step cannot pass unnoticed."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing (CI installs it: .ci/run)")
        pytest.skip(f"{name} is not installed")
    return found


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A redis-server of the caller's own (loopback, a free port, no persistence): its URL."""
    server = installed_program("redis-server")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None and time.monotonic() < deadline, "redis did not start"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def pgbouncer_server(workdir: Path, database: Mapping[str, object]) -> Iterator[str]:
    """A PgBouncer of the caller's own in front of ``database`` (Django's settings_dict of a
    PostgreSQL database): loopback, a free port, transaction pooling, one server connection, so
    every client shares it. Its URL, to be the app's DATABASE_URL. As root it runs as the
    ``postgres`` user (PgBouncer refuses root)."""
    server = installed_program("pgbouncer")
    port, name = free_port(), str(database["NAME"])
    folder = workdir / "pgbouncer"
    folder.mkdir(mode=0o755)
    config = folder / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"{name} = host={database['HOST']} port={database['PORT']} dbname={name} "
        f"user={database['USER']} password={database['PASSWORD']}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        "auth_type = any\npool_mode = transaction\ndefault_pool_size = 1\n"
    )
    config.chmod(0o644)
    as_postgres = ["-u", "postgres"] if os.geteuid() == 0 else []
    log = folder / "pgbouncer.log"
    with serving(
        [server, *as_postgres, str(config)], port=port, env=os.environ, cwd=folder, log=log
    ):
        yield f"postgres://{database['USER']}:{database['PASSWORD']}@127.0.0.1:{port}/{name}"


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], log: Path, seconds: float = 60
) -> None:
    """Return once ``process`` listens on the loopback ``port``; fail with its log otherwise."""
    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, log.read_text()
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline, f"nothing listened on {port}: {log.read_text()}"
        time.sleep(0.1)


@contextmanager
def serving(
    command: Sequence[str], *, port: int, env: Mapping[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process of the test's own, its output in ``log``, stopped on the way out."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(command), cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(port, process, log)
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(15)


DEV_PORTS = (8000, 8001)  # `make run`: the site (PORT) and the Slack stand-in (SLACK_STANDIN_PORT)


class _BusyHandler(BaseHTTPRequestHandler):
    """Answers everything 503, as a developer's own server would answer a test's request wrongly."""

    def _busy(self) -> None:
        body = b"busy: this port belongs to the developer's make run, not to a test\n"
        self.send_response(503)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _busy

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the failing test reports it."""


@contextmanager
def busy_dev_ports(ports: Sequence[int] = DEV_PORTS) -> Iterator[None]:
    """Listeners on 127.0.0.1:8000 and :8001 for as long as the block runs. A port some other
    process holds already (a running ``make run``) is busy as it is and left alone."""
    servers: list[ThreadingHTTPServer] = []
    for port in ports:
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), _BusyHandler)
        except OSError:
            continue
        threading.Thread(target=server.serve_forever, name=f"busy-{port}", daemon=True).start()
        servers.append(server)
    try:
        yield
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
