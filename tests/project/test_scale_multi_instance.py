"""Many instances, one truth: two gunicorn instances behind nginx, one PostgreSQL, one Redis.

The deployment docs/production.md describes, on loopback: nginx round-robins between two
gunicorn instances and sets X-Forwarded-Proto itself (its config below is the one the docs
show, plus the temp paths a throwaway prefix needs); both instances share one PostgreSQL (the
test database) and one redis-server of the test's own (CACHE_URL). Slack is the stand-in.

Proved: an install started on one instance completes on the other; a status change made
through one instance shows on the other's admin at once; a rolling key rotation keeps every
install, lookup and admin page working at every step with not one unreadable value; two refresh
runners spend each refresh token once. (`make serve` refusing unapplied migrations is proved by
tests/project/test_release_steps.py; /readyz answering 503 for them is proved here.)
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from installations.encryption.fields import EncryptedDataError
from installations.encryption.keyring import generate_key_entry, kid_of
from installations.encryption.stored_kids import stored_kids
from installations.models import Installation, Workspace
from installations.store import DjangoInstallationStore
from slackstandin import SlackStandIn
from slackstandin.events import envelope, signed_headers
from tests.project.test_production import BehindTlsProxy, get, live_database_url, opener
from tests.support.servers import free_port, installed_program, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.multi_instance,
    pytest.mark.django_db(transaction=True),
]

OLD, NEW = generate_key_entry("old"), generate_key_entry("new")
LOGGED = re.compile(r'"[A-Z]+ (?P<path>\S+) [^"]*" (?P<status>\d{3}) .* (?P<upstream>\S+)$')
NGINX_CONF = """\
{user}worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    log_format slackinstall '$remote_addr $time_iso8601 "$request_method $uri $server_protocol" '
                            '$status $body_bytes_sent $request_time $upstream_addr';
    upstream slackinstall {{
        server 127.0.0.1:{port_a} max_fails=0;
        server 127.0.0.1:{port_b} max_fails=0;
    }}
    server {{
        listen 127.0.0.1:{port};
        access_log {prefix}/access.log slackinstall;
        location / {{
            proxy_pass http://slackinstall;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


@dataclass
class Instance:
    name: str
    port: int
    log: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, keys: str, active: str = "") -> None:
        self.env["TOKEN_ENCRYPTION_KEYS"] = keys
        self.env["TOKEN_ENCRYPTION_ACTIVE_KEY_ID"] = active
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, self.process, self.log)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def restart(self, keys: str, active: str = "") -> None:
        self.stop()
        self.start(keys, active)


@dataclass
class Cluster:
    proxy: str
    a: Instance
    b: Instance
    access_log: Path
    env: dict[str, str]
    fleet: list[tuple[str, str]] = field(default_factory=list)  # keyrings running now

    def upstreams(self) -> list[tuple[str, str]]:
        """(path, upstream port) per request nginx forwarded, in order (the port that answered,
        when nginx went on to the other instance)."""
        found = [LOGGED.search(line) for line in self.access_log.read_text().splitlines()]
        return [(m["path"], m["upstream"].rsplit(":", 1)[-1]) for m in found if m]


@pytest.fixture
def cluster(
    standin: SlackStandIn,
    settings: Any,
    tmp_path: Path,
    redis_url: str,
) -> Iterator[Cluster]:
    nginx = installed_program("nginx")
    proxy_port, port_a, port_b = free_port(), free_port(), free_port()
    proxy = f"http://127.0.0.1:{proxy_port}"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SLACK_"))}
    base_env.update(
        DJANGO_DEBUG="false",
        # The test's own key: a session made here (force_login) is valid on both instances.
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        DATABASE_URL=live_database_url(),
        CACHE_URL=redis_url,
        SLACK_CLIENT_ID=settings.SLACK_CLIENT_ID,
        SLACK_CLIENT_SECRET=settings.SLACK_CLIENT_SECRET,
        SLACK_SIGNING_SECRET=settings.SLACK_SIGNING_SECRET,
        SLACK_API_URL=standin.api_url,
        SLACK_AUTHORIZE_URL=standin.authorize_url,
        SLACK_REDIRECT_URI=proxy + "/slack/oauth_redirect",
        HOST="127.0.0.1",
        WEB_CONCURRENCY="1",
        DJANGO_LOG_LEVEL="WARNING",
    )
    a = Instance("a", port_a, tmp_path / "a.log", {**base_env, "PORT": str(port_a)})
    b = Instance("b", port_b, tmp_path / "b.log", {**base_env, "PORT": str(port_b)})
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    conf = prefix / "nginx.conf"
    user = "user root root;\n" if os.geteuid() == 0 else ""  # workers write the temp paths
    conf.write_text(
        NGINX_CONF.format(user=user, prefix=prefix, port=proxy_port, port_a=port_a, port_b=port_b)
    )
    settings.TOKEN_ENCRYPTION_KEYS, settings.TOKEN_ENCRYPTION_ACTIVE_KEY_ID = OLD, ""
    proxy_process = None
    try:
        a.start(OLD)
        b.start(OLD)
        proxy_process = subprocess.Popen(
            [nginx, "-p", str(prefix), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=(prefix / "stderr.log").open("wb"),
        )
        wait_for_port(proxy_port, proxy_process, prefix / "stderr.log")
        yield Cluster(proxy, a, b, prefix / "access.log", base_env, fleet=[(OLD, "")])
    finally:
        if proxy_process is not None:
            proxy_process.terminate()
            proxy_process.wait(10)
        a.stop()
        b.stop()


# --- what a browser, Slack and staff do -----------------------------------------------------------


def install_through(
    cluster: Cluster, standin: SlackStandIn, team_id: str, *, rotation: bool = False
) -> None:
    """The whole Add to Slack flow through nginx; asserts it landed on the success page."""
    browser = opener()
    status, _, html = get(browser, cluster.proxy + "/slack/install")
    assert status == 200, html
    link = re.search(r'class="add-to-slack" href="([^"]+)"', html)
    assert link, html
    authorize_url = unescape(link.group(1))
    callback = standin.approve(authorize_url, team_id=team_id, rotation=rotation)
    status, landed, html = get(browser, callback)
    assert status == 200 and "/slack/installed?" in landed, html


def admin_browser(cluster: Cluster) -> urllib.request.OpenerDirector:
    """A staff browser: a session made in the database both instances read."""
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "unused-pw-1")
    client = Client()
    client.force_login(user)
    import http.cookiejar

    jar = http.cookiejar.CookieJar(policy=BehindTlsProxy())
    browser = opener(jar=jar)
    jar.set_cookie(
        http.cookiejar.Cookie(
            0, "sessionid", client.cookies["sessionid"].value, None, False, "127.0.0.1", False,
            False, "/", True, True, None, False, None, None, {},
        )
    )  # fmt: skip
    return browser


def counts_on(browser: urllib.request.OpenerDirector, instance: Instance) -> dict[str, int]:
    """The status counts above the workspace list, as one instance shows them."""
    status, _, html = get(browser, instance.url + "/admin/installations/workspace/")
    assert status == 200, html[:500]
    found = dict(re.findall(r'href="\?status=(active|needs_reinstall)">(\d+)<', html))
    return {name: int(value) for name, value in found.items()}


def all_admin_pages_work(browser: urllib.request.OpenerDirector, cluster: Cluster) -> None:
    for instance in (cluster.a, cluster.b):
        status, _, html = get(browser, instance.url + "/admin/installations/workspace/")
        assert status == 200, html[:300]
        for pk in Workspace.objects.values_list("pk", flat=True):
            url = f"{instance.url}/admin/installations/workspace/{pk}/change/"
            status, _, html = get(browser, url)
            assert status == 200, (instance.name, html[:300])


def every_value_readable_by_the_fleet(cluster: Cluster, settings: Any) -> None:
    """Decrypt every stored value with every keyring running now; and look every install up."""
    for keys, active in cluster.fleet:
        settings.TOKEN_ENCRYPTION_KEYS, settings.TOKEN_ENCRYPTION_ACTIVE_KEY_ID = keys, active
        store = DjangoInstallationStore(client_id=settings.SLACK_CLIENT_ID)
        try:
            for ws in Workspace.objects.filter(uninstalled_at__isnull=True):
                assert ws.bot_token and ws.bot_token.startswith("xoxb-")
                found = store.find_installation(enterprise_id=None, team_id=ws.team_id)
                assert found is not None and found.bot_token == ws.bot_token
            for row in Installation.objects.all():
                _ = row.user_token
        except EncryptedDataError as exc:  # pragma: no cover - the failure this test exists for
            pytest.fail(f"unreadable with {active or 'first'} of {keys.split(':')[0]}: {exc}")


# --- the test -------------------------------------------------------------------------------------


def test_two_instances_behind_nginx_share_one_truth(
    cluster: Cluster, standin: SlackStandIn, settings: Any
) -> None:
    # Ready: database, Redis and migrations, on each instance, with nothing to say publicly.
    for instance in (cluster.a, cluster.b):
        status, _, body = get(opener(), instance.url + "/readyz")
        assert (status, json.loads(body)) == (200, {"status": "ready"})

    # 1. An install that starts on one instance and returns to the other.
    install_through(cluster, standin, "T0MULTI01")
    served = [(path, port) for path, port in cluster.upstreams() if path.startswith("/slack/")]
    start = next(port for path, port in served if path == "/slack/install")
    back = next(port for path, port in served if path == "/slack/oauth_redirect")
    assert start != back and {start, back} == {str(cluster.a.port), str(cluster.b.port)}
    assert Workspace.objects.filter(team_id="T0MULTI01").exists()
    logged = cluster.access_log.read_text()  # the documented log format keeps the code out
    assert "/slack/oauth_redirect" in logged and "code=" not in logged and "state=" not in logged

    # 2. A status change through one instance shows on the other's admin at once.
    staff = admin_browser(cluster)
    assert counts_on(staff, cluster.b) == {"active": 1, "needs_reinstall": 0}  # now cached
    event = json.dumps(
        envelope(
            {"type": "app_uninstalled"}, team_id="T0MULTI01", enterprise_id=None,
            is_enterprise_install=False, event_id="Ev0MULTI01", event_time=int(time.time()),
        )
    ).encode()  # fmt: skip
    headers = {**signed_headers(event, settings.SLACK_SIGNING_SECRET), "X-Forwarded-Proto": "https"}
    request = urllib.request.Request(  # noqa: S310 (loopback http only)
        cluster.a.url + "/slack/events", data=event, headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 (loopback)
        assert response.status == 200
    assert counts_on(staff, cluster.b) == {"active": 0, "needs_reinstall": 1}

    # 3. A rolling key rotation; every install, lookup and admin page works at every step.
    steps = [
        ("add the new key, decrypt-only", f"{OLD},{NEW}", ""),
        ("promote it", f"{OLD},{NEW}", "new"),
    ]
    team = iter(f"T0ROLL{n:03d}" for n in range(100))
    for _, keys, active in steps:
        previous = cluster.fleet[-1]
        for instance in (cluster.a, cluster.b):  # one instance, then the other
            instance.restart(keys, active)
            cluster.fleet = [previous, (keys, active)]
            for _ in range(2):  # through nginx: one lands on each instance
                install_through(cluster, standin, next(team))
            every_value_readable_by_the_fleet(cluster, settings)
            all_admin_pages_work(staff, cluster)
        cluster.fleet = [(keys, active)]
    assert "new" in stored_kids() and "old" in stored_kids()
    settings.TOKEN_ENCRYPTION_KEYS, settings.TOKEN_ENCRYPTION_ACTIVE_KEY_ID = f"{OLD},{NEW}", "new"
    call_command("slack_reencrypt", stdout=io.StringIO())
    call_command("slack_reencrypt", "--check", stdout=io.StringIO())
    assert stored_kids() == {"new"}
    for instance in (cluster.a, cluster.b):  # (d) the old key removed
        instance.restart(NEW)
    cluster.fleet = [(NEW, "")]
    every_value_readable_by_the_fleet(cluster, settings)
    all_admin_pages_work(staff, cluster)
    last = next(team)
    install_through(cluster, standin, last)
    stored = Workspace._meta.get_field("bot_token").stored_envelope(
        Workspace.objects.get(team_id=last)
    )
    assert stored is not None and kid_of(stored) == "new"


def test_two_refresh_runners_spend_each_refresh_token_once(
    cluster: Cluster, standin: SlackStandIn
) -> None:
    teams = [f"T0RFRSH{n:02d}" for n in range(6)]
    for team in teams:
        install_through(cluster, standin, team, rotation=True)

    def runner(*args: str) -> subprocess.Popen[str]:
        env = {**cluster.a.env, "TOKEN_ENCRYPTION_KEYS": OLD, "TOKEN_ENCRYPTION_ACTIVE_KEY_ID": ""}
        return subprocess.Popen(
            [sys.executable, "manage.py", "slack_refresh_tokens", "--within", "60", *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    for shards in (("1/1", "1/1"), ("1/2", "2/2")):  # the same shard twice, then split
        # Due soon (a fresh pair from Slack lasts 12 h, so what a runner refreshed is not due).
        Workspace.objects.update(bot_token_expires_at=timezone.now() + timedelta(minutes=10))
        before = len(standin.calls_to("oauth.v2.access"))
        runs = [runner("--shard", shard) for shard in shards]
        outputs = [run.communicate(timeout=120) for run in runs]
        for run, (out, err) in zip(runs, outputs, strict=True):
            assert run.returncode == 0, out + err
            summary = out.strip().splitlines()[-1]
            assert re.fullmatch(
                r"slack_refresh_tokens: due=\d+ refreshed=\d+ skipped=\d+ failed=0 "
                r"undecryptable=0 errors=0 shard=\d/\d seconds=[\d.]+ status=ok",
                summary,
            ), summary
        refreshes = [
            call.params.get("refresh_token")
            for call in standin.calls_to("oauth.v2.access")[before:]
            if call.params.get("grant_type") == "refresh_token"
        ]
        assert len(refreshes) == len(teams)  # every due bot token refreshed in this round
        assert max(Counter(refreshes).values()) == 1  # and no refresh token spent twice
        refreshed = 0
        for out, _ in outputs:
            found = re.search(r"refreshed=(\d+)", out)
            assert found, out
            refreshed += int(found.group(1))
        assert refreshed == len(teams)
    for ws in Workspace.objects.all():
        assert ws.refresh_failed_at is None and ws.bot_token


def test_a_rolling_restart_behind_the_documented_proxy_drops_no_request(cluster: Cluster) -> None:
    """Instance a restarted, then b at once: nginx (max_fails=0) sends each request to whichever
    instance takes it, so not one answer is a 502."""
    seen: list[Counter[int]] = [Counter(), Counter()]
    stop = threading.Event()

    def browse(statuses: Counter[int]) -> None:
        browser = opener()
        while not stop.is_set():
            status, _, _ = get(browser, cluster.proxy + "/healthz")
            statuses[status] += 1

    browsers = [threading.Thread(target=browse, args=(counter,)) for counter in seen]
    for thread in browsers:
        thread.start()
    try:
        time.sleep(0.5)
        cluster.a.restart(OLD)
        cluster.b.restart(OLD)  # no pause: a came back a moment ago
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in browsers:
            thread.join(30)
    statuses = seen[0] + seen[1]
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 20


def test_readyz_is_503_without_details_when_migrations_are_missing(cluster: Cluster) -> None:
    from django.db import connection

    with connection.cursor() as cursor:  # as if this release shipped a migration not yet applied
        cursor.execute(
            "SELECT id, app, name, applied FROM django_migrations WHERE app = 'installations' "
            "ORDER BY name DESC LIMIT 1"
        )
        row = cursor.fetchone()
        cursor.execute("DELETE FROM django_migrations WHERE id = %s", [row[0]])
    try:
        cluster.b.restart(OLD)  # a fresh process: its first answer is computed
        status, _, body = get(opener(), cluster.b.url + "/readyz")
        assert (status, json.loads(body)) == (503, {"status": "unavailable"})
        assert "migration" in cluster.b.log.read_text()  # the reason is in the log only
        status, _, body = get(opener(), cluster.b.url + "/healthz")  # alive all the same
        assert status == 200
    finally:  # django_migrations is not flushed between tests: put the row back
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO django_migrations (id, app, name, applied) VALUES (%s, %s, %s, %s)",
                list(row),
            )
