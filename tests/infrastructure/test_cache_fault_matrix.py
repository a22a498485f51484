"""Every cache use of the app, times every way a cache goes wrong, on a real redis-server.

Rows are the entry points that use the cache, each driven for real: the admin's workspace list
(the history generation, the status counts, the weekly chart, the enterprise choices), an
install through the stand-in (the known app id, and the generation moved on after the commit)
and a Sign in with Slack (the key set). Columns are the faults:

- down: nothing listens on the cache's port;
- hanging: a loopback socket that accepts connections and never answers;
- erroring: a real redis-server that answers every command with an error (``requirepass``);
- full: a real redis-server, emptied, out of memory with ``noeviction`` (writes fail);
- garbage: raw bytes that unpickle to nothing under every key the row uses;
- wrong_shape: a pickled value of the wrong type under every key the row uses.

Each cell: the row gives the right answer twice in a row; a hanging cache costs at most one
socket timeout for both (the circuit breaker skips it after the first); a cache that answers
(garbage, wrong shape) is not skipped, and what it held is replaced by good values.
"""

from __future__ import annotations

import pickle
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
import redis
from django.contrib.auth.models import User
from django.db.models import Count, Q
from django.test import Client
from django.urls import reverse

from installations.infrastructure import shared_cache
from installations.models import Workspace
from installations.reporting import chart, health
from installations.signin.models import SlackIdentity
from slackstandin import SlackStandIn
from tests.signin.conftest import client_signin, signin  # noqa: F401 (fixtures)
from tests.support.cache import use_redis_cache
from tests.support.flow import Flow
from tests.support.servers import free_port, redis_server

pytestmark = pytest.mark.django_db(transaction=True)

SOCKET_TIMEOUT = 1.0
FAULTS = ("down", "hanging", "erroring", "full", "garbage", "wrong_shape")
ANSWERING = ("garbage", "wrong_shape")  # the cache answers: never skipped for that
GARBAGE = b"\x80\x05\x95garbage that is no pickle\xff\x00"
LIST = reverse("admin:installations_workspace_changelist")


class HangingServer:
    """Accepts every connection and never answers; counts the connections it was sent."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"redis://127.0.0.1:{self.sock.getsockname()[1]}/0"
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture(scope="module")
def redis_location(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def hanging() -> Iterator[HangingServer]:
    server = HangingServer()
    yield server
    server.close()


def use_cache(settings: Any, location: str) -> None:
    timeouts = {"socket_timeout": SOCKET_TIMEOUT, "socket_connect_timeout": SOCKET_TIMEOUT}
    use_redis_cache(settings, location, **timeouts)


@dataclass
class Cell:
    fault: str
    settings: Any
    redis_location: str
    hanging: HangingServer
    caplog: pytest.LogCaptureFixture
    password: str = ""

    def admin(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_location, password=self.password or None)

    def break_cache(self) -> list[bytes]:
        """Apply the fault after a warm-up on the healthy cache: the keys it had filled."""
        keys = cast("list[bytes]", self.admin().keys("*"))  # no decode_responses: bytes
        if self.fault == "down":
            use_cache(self.settings, f"redis://127.0.0.1:{free_port()}/0")
        elif self.fault == "hanging":
            use_cache(self.settings, self.hanging.url)
        elif self.fault == "erroring":
            self.password = secrets.token_hex(8)
            server = redis.Redis.from_url(self.redis_location)
            server.config_set("requirepass", self.password)
            server.client_kill_filter(_type="normal", skipme=True)  # the app must log in again
        elif self.fault == "full":  # emptied, and every write refused
            self.admin().flushall()
            self.admin().config_set("maxmemory-policy", "noeviction")
            self.admin().config_set("maxmemory", "1")
        else:
            poison = GARBAGE if self.fault == "garbage" else pickle.dumps(["wrong", b"shape"])
            for key in keys:
                self.admin().set(key, poison)
        return keys

    def heal(self) -> None:
        client = self.admin()
        client.config_set("maxmemory", "0")
        client.config_set("requirepass", "")
        redis.Redis.from_url(self.redis_location).flushall()


@pytest.fixture(params=FAULTS)
def cell(
    request: pytest.FixtureRequest,
    settings: Any,
    redis_location: str,
    hanging: HangingServer,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Cell]:
    redis.Redis.from_url(redis_location).flushall()
    use_cache(settings, redis_location)
    found = Cell(request.param, settings, redis_location, hanging, caplog)
    yield found
    found.heal()


def run_cell(cell: Cell, row: Callable[[], None]) -> None:
    """The row twice on a healthy cache (filling it), then twice on the broken one: right
    answers, bounded time; then (a cache that answers) once more, reading only good values."""
    row()
    started = time.monotonic()
    row()
    healthy_seconds = time.monotonic() - started
    keys = cell.break_cache()
    assert keys, "the row used no cache"
    started = time.monotonic()
    row()
    row()
    seconds = time.monotonic() - started
    # Two runs on a hanging cache: one socket timeout at most (each cache call would cost one).
    assert seconds < 2 * healthy_seconds + 1.5 * SOCKET_TIMEOUT + 1.0, seconds
    if cell.fault == "hanging":
        assert len(cell.hanging.accepted) <= 1
    if cell.fault in ANSWERING:
        assert not shared_cache.breaker.is_open
        assert "cache value" in cell.caplog.text  # noticed (by key, never the value)
        assert "garbage" not in cell.caplog.text and "shape'" not in cell.caplog.text
        cell.caplog.clear()
        row()  # what the row reads now was recomputed and stored: no bad value left to read
        assert "cache value" not in cell.caplog.text
    else:
        assert shared_cache.breaker.is_open


# --- the rows --------------------------------------------------------------------------------


def staff_client() -> Client:
    user = User.objects.create_superuser("fault-staff", password=secrets.token_hex(16))
    client = Client()
    client.force_login(user)
    return client


def test_admin_workspace_list(cell: Cell) -> None:
    Workspace.objects.create(client_id="1111.2222", team_id="T0FAULT1", enterprise_id="E0FAULT1")
    Workspace.objects.create(client_id="1111.2222", team_id="T0FAULT2", bot_scopes="commands")
    client = staff_client()
    annotated = health.with_health(Workspace.objects.all())
    needs = Count("pk", filter=Q(needs_reinstall=True))
    counts = annotated.aggregate(total=Count("pk"), needs=needs)
    expected = {
        "total": counts["total"],
        "needs_reinstall": counts["needs"],
        "unreadable": 0,  # this process holds the key of every stored value
        "active": counts["total"] - counts["needs"],
    }
    expected_chart = chart.build_chart(chart.weekly_activity())

    def row() -> None:
        page = client.get(LIST)
        assert page.status_code == 200
        assert page.context["status_counts"] == expected
        assert page.context["activity_chart"] == expected_chart
        assert b"?enterprise=E0FAULT1" in page.content

    run_cell(cell, row)


def test_install_callback(cell: Cell, standin: SlackStandIn) -> None:
    teams = iter(f"T0FAULT{n}" for n in range(9))

    def row() -> None:
        team = next(teams)
        response = Flow(standin, Client()).install(team_id=team)
        assert response.status_code == 302, response.content[:300]
        assert Workspace.objects.get(team_id=team).app_id

    run_cell(cell, row)  # an install reads the known app id, and moves the generation on


def test_sign_in(cell: Cell, request: pytest.FixtureRequest) -> None:
    sign_in = request.getfixturevalue("client_signin")
    users = iter(f"U0FAULT{n}" for n in range(9))

    def row() -> None:
        user_id = next(users)
        client = Client()
        response = sign_in(client, user_id=user_id)
        assert response.status_code == 302, response.content[:300]
        assert response["Location"] == "/slack/signin/workspaces"
        identity = SlackIdentity.objects.get(slack_user_id=user_id)
        assert client.session["_auth_user_id"] == str(identity.user.pk)

    run_cell(cell, row)
