"""Fixtures for the Slack-facing tests: ``elsewhere``, another host:port for a redirect to name.

It records whatever reaches it, so a test can tell that a client followed no redirect.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator

import pytest


@pytest.fixture
def elsewhere() -> Iterator[tuple[str, list[bytes]]]:
    """(base URL, what arrived): a server on another port that records every connection."""
    received: list[bytes] = []

    class Record(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(1)
            try:
                received.append(self.request.recv(65536))
            except OSError:
                received.append(b"(connected)")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Record)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
