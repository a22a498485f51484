"""Release steps apart from serving: `make migrate` once per deploy, `make serve` on every instance.

`make serve` refuses unapplied migrations instead of racing other instances to apply them;
PostgreSQL's JIT is turned off per session after connecting (poolers such as PgBouncer refuse the
startup `options` parameter); connections are kept for reuse with health checks.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from installations.encryption.keyring import generate_key_entry
from installations.infrastructure.database import turn_off_jit
from installations.models import Workspace
from tests.support.project_copy import ROOT, clean_env, copy_project, make, make_command, manage
from tests.support.servers import free_port, pgbouncer_server


def production_env(tmp_path: Path, **changes: str) -> dict[str, str]:
    env = clean_env(
        DJANGO_SECRET_KEY=os.urandom(40).hex(),
        TOKEN_ENCRYPTION_KEYS=generate_key_entry("prod1"),
        SLACK_CLIENT_ID="1111.2222",
        SLACK_CLIENT_SECRET=os.urandom(16).hex(),
        SLACK_SIGNING_SECRET=os.urandom(16).hex(),
        SLACK_REDIRECT_URI="https://install.example.com/slack/oauth_redirect",
        DJANGO_ALLOWED_HOSTS="install.example.com,127.0.0.1",
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        HOST="127.0.0.1",
        PORT=str(free_port()),
        WEB_CONCURRENCY="1",
    )
    env.update(changes)
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "release")


def test_make_serve_refuses_unapplied_migrations_in_one_line(project: Path, tmp_path: Path) -> None:
    env = production_env(tmp_path)
    result = make(project, env, "serve")
    assert result.returncode != 0
    refusal = [line for line in result.stderr.splitlines() if "make migrate" in line]
    assert len(refusal) == 1 and refusal[0].startswith("make serve: not starting"), result.stderr
    assert "Traceback" not in result.stderr
    assert "gunicorn" not in result.stdout  # never started
    with socket.socket() as sock:  # and nothing listens where it would have
        assert sock.connect_ex(("127.0.0.1", int(env["PORT"]))) != 0


STORE_A_TOKEN = (
    "from installations.models import Workspace\n"
    "Workspace.objects.create(client_id='1111.2222', team_id='T0KEYS001', team_name='Keys',"
    " bot_token='xoxb-fake-' + '0' * 12)\n"
)


def test_make_serve_refuses_when_stored_tokens_need_a_key_it_lacks(
    project: Path, tmp_path: Path
) -> None:
    """The key the stored tokens were sealed under was dropped before re-encrypting: W005 stops
    the start, as any warning of check --deploy does, and nothing is written."""
    env = production_env(tmp_path)
    assert make(project, env, "migrate").returncode == 0
    stored = manage(project, env, "shell", "--no-imports", "-c", STORE_A_TOKEN)
    assert stored.returncode == 0, stored.stderr
    before = (tmp_path / "db.sqlite3").read_bytes()

    without_old_key = {**env, "TOKEN_ENCRYPTION_KEYS": generate_key_entry("prod2")}
    result = make(project, without_old_key, "serve")
    assert result.returncode != 0
    assert "installations.W005" in result.stderr and "prod1" in result.stderr, result.stderr
    assert "make serve: not starting" in result.stderr and "Traceback" not in result.stderr
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", int(env["PORT"]))) != 0
    assert (tmp_path / "db.sqlite3").read_bytes() == before


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, "make serve exited early"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline, "gunicorn did not listen in time"
        time.sleep(0.2)


def test_make_migrate_once_then_make_serve_starts(project: Path, tmp_path: Path) -> None:
    env = production_env(tmp_path)
    migrated = make(project, env, "migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "Applying installations.0001" in migrated.stdout

    log = (tmp_path / "serve.log").open("w+")
    serve = subprocess.Popen(
        make_command(project, "serve"),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # make and gunicorn in one group, stopped together below
    )
    try:
        port = int(env["PORT"])
        wait_for_port(port, serve)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/healthz", headers={"X-Forwarded-Proto": "https"}
        )
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
            assert json.loads(response.read()) == {"status": "ok"}
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(30)
        log.seek(0)
        output = log.read()
        log.close()
    assert "Applying" not in output  # serving never migrates


PRINT_DATABASE = (
    "from django.conf import settings\n"
    "import json\n"
    "db = settings.DATABASES['default']\n"
    "print(json.dumps({'age': db['CONN_MAX_AGE'], 'checks': db['CONN_HEALTH_CHECKS'],"
    " 'options': db.get('OPTIONS', {}), 'jit': settings.POSTGRES_SET_JIT_OFF}))\n"
)


def shell_printed(env: dict[str, str], code: str) -> str:
    """The last line ``code`` prints, run by ``manage.py shell`` under ``env``."""
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def database_settings(env: dict[str, str]) -> dict[str, Any]:
    printed: dict[str, Any] = json.loads(shell_printed(env, PRINT_DATABASE))
    return printed


PREPARED = {"server_side_binding": True, "prepare_threshold": 5}


def test_connections_are_reused_with_health_checks_and_no_startup_options(
    tmp_path: Path,
) -> None:
    postgres = "postgres://user:password@127.0.0.1:1/slackinstall"  # never connected to
    production = database_settings(production_env(tmp_path, DATABASE_URL=postgres))
    assert production == {"age": 60, "checks": True, "options": PREPARED, "jit": True}

    pooled = production_env(
        tmp_path,
        DATABASE_URL=postgres,
        DJANGO_CONN_MAX_AGE="0",
        DJANGO_POSTGRES_SET_JIT_OFF="false",
        DJANGO_POSTGRES_PREPARED_STATEMENTS="false",
    )
    assert database_settings(pooled) == {"age": 0, "checks": True, "options": {}, "jit": False}

    debug = clean_env(DJANGO_DEBUG="true", DATABASE_URL=f"sqlite:///{tmp_path / 'dev.sqlite3'}")
    assert database_settings(debug)["age"] == 0


@pytest.mark.django_db
def test_jit_setting_is_a_no_op_on_other_databases() -> None:
    if connection.vendor == "postgresql":
        pytest.skip("SQLite pass only")
    turn_off_jit(sender=None, connection=connection)  # no SET, no error


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # closes the connection: no test transaction around it
def test_jit_is_off_in_every_postgresql_session() -> None:
    assert "options" not in connection.settings_dict.get("OPTIONS", {})
    for _ in range(2):  # the test connection, then a brand-new one
        with connection.cursor() as cursor:
            cursor.execute("SHOW jit")
            assert cursor.fetchone()[0] == "off"
        connection.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # closes the connection: no test transaction around it
def test_a_lookup_run_five_times_is_prepared_once_by_postgresql() -> None:
    connection.close()  # a new session: no statement prepared yet
    for _ in range(7):
        list(Workspace.objects.filter(team_id="T0PREPARED").values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert len([s for s in prepared if "T0PREPARED" not in s and "team_id" in s]) == 1, prepared
    connection.close()


# Two threads, each with its own connection, run one lookup in step, past psycopg's
# prepare_threshold: behind a pooler that hands both the same server connection, the second to
# prepare it collides with the first. Prints "ok" or the first failure.
LOOKUPS_IN_STEP = """
import threading
from django.db import connection
from installations.models import Workspace

step = threading.Barrier(2)
failures = []

def look_up():
    try:
        for _ in range(8):
            step.wait(30)
            Workspace.objects.filter(team_id="T0POOLED").exists()
    except threading.BrokenBarrierError:
        pass
    except Exception as exc:
        failures.append(f"{type(exc).__name__}: {exc}")
        step.abort()
    finally:
        connection.close()

threads = [threading.Thread(target=look_up) for _ in range(2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(failures[0] if failures else "ok")
"""


@pytest.mark.postgres
@pytest.mark.django_db
def test_behind_pgbouncer_in_transaction_mode_the_documented_settings_keep_queries_working(
    tmp_path: Path,
) -> None:
    with pgbouncer_server(tmp_path, connection.settings_dict) as url:
        pooled = production_env(
            tmp_path,
            DATABASE_URL=url,
            DJANGO_CONN_MAX_AGE="0",
            DJANGO_DISABLE_SERVER_SIDE_CURSORS="true",
            DJANGO_POSTGRES_SET_JIT_OFF="false",
        )
        off = pooled | {"DJANGO_POSTGRES_PREPARED_STATEMENTS": "false"}
        documented = shell_printed(off, LOOKUPS_IN_STEP)
        prepared = shell_printed(pooled, LOOKUPS_IN_STEP)  # the default, as the docs warn
    assert documented == "ok"
    assert "prepared statement" in prepared and "already exists" in prepared, prepared


def test_production_docs_give_the_alter_role_alternative_and_release_steps() -> None:
    doc = (ROOT / "docs" / "production.md").read_text()
    assert "ALTER ROLE" in doc and "SET jit = off" in doc
    assert "make migrate" in doc and "migrate --check" in doc
    assert "DJANGO_CONN_MAX_AGE" in doc
