"""The suite does not need the developer's machine idle: with SLACKINSTALL_BUSY_DEV_PORTS=1 (CI)
the ports of `make run` (8000, 8001) are held for the whole run (tests/conftest.py), so a test
that reaches for them, or binds them, fails."""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request

import pytest

from tests.support.servers import DEV_PORTS, busy_dev_ports, free_port


def listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.skipif(
    os.environ.get("SLACKINSTALL_BUSY_DEV_PORTS") != "1", reason="SLACKINSTALL_BUSY_DEV_PORTS unset"
)
def test_the_dev_ports_are_held_for_the_whole_run() -> None:
    assert all(listens(port) for port in DEV_PORTS)


def test_a_held_port_answers_503_and_is_let_go() -> None:
    port = free_port()
    with busy_dev_ports([port]):
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/auth.test", timeout=5)
        assert answer.value.code == 503
    assert not listens(port)
