"""Shared set-up for benchmark scripts: Django with generated fake secrets and a fresh database.

SQLite (a temporary file) by default; set BENCH_DATABASE_URL=postgres://... to measure PostgreSQL
(the tables there are emptied first).
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def bench_database_url() -> str:
    """BENCH_DATABASE_URL (its name must say "bench": its tables are emptied), or a fresh
    temporary SQLite file."""
    url = os.environ.get("BENCH_DATABASE_URL")
    if url and "bench" not in url.rsplit("/", 1)[-1]:
        # Its tables are emptied: refuse anything that is not obviously a benchmark database.
        sys.exit("BENCH_DATABASE_URL must name a database with 'bench' in its name")
    if not url:
        folder = tempfile.mkdtemp(prefix="slackinstall-bench-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        url = f"sqlite:///{folder}/bench.sqlite3"
    return url


def setup_django() -> str:
    """Configure and migrate; returns a short description of the database in use."""
    sys.path.insert(0, str(ROOT))
    from installations.encryption.keyring import generate_key_entry

    url = bench_database_url()
    defaults = {
        "DJANGO_SETTINGS_MODULE": "slackinstall.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "TOKEN_ENCRYPTION_KEYS": generate_key_entry("bench1"),
        "SLACK_CLIENT_ID": "1111.2222",
        "SLACK_CLIENT_SECRET": "fake-" + secrets.token_hex(8),
        "SLACK_SIGNING_SECRET": "fake-" + secrets.token_hex(8),
        "SLACK_REDIRECT_URI": "https://bench.invalid/slack/oauth_redirect",
        "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    os.environ["DATABASE_URL"] = url

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    if not url.startswith("sqlite"):
        call_command("flush", interactive=False, verbosity=0)
    return url.split("://", 1)[0]


def database_label(vendor: str) -> str:
    """How figures name the database ``setup_django`` returned: "PostgreSQL" or "SQLite"."""
    return "PostgreSQL" if vendor.startswith("postgres") else "SQLite"


def start_standin(client_id: str = "1111.2222", **environ: str) -> Any:
    """The Slack stand-in on loopback, with the app's settings pointed at it (call before
    setup_django). Extra keyword arguments are set as environment variables too."""
    sys.path.insert(0, str(ROOT))
    from slackstandin import SlackStandIn

    secret = "fake-" + secrets.token_hex(8)
    standin = SlackStandIn(client_id=client_id, client_secret=secret).start()
    os.environ.update(
        SLACK_CLIENT_ID=client_id,
        SLACK_CLIENT_SECRET=secret,
        SLACK_API_URL=standin.api_url,
        SLACK_AUTHORIZE_URL=standin.authorize_url,
        **environ,
    )
    return standin


def analyze() -> None:
    """Planner statistics for the rows a benchmark just bulk-loaded (PostgreSQL): a live database
    has them (autovacuum), a bulk load gets them only when autovacuum comes by, and without them
    PostgreSQL may scan a whole table for a join the statistics would have sent to an index."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
