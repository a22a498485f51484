"""What a queued ``Fault`` does to an answer: the status, headers and bytes that go on the wire.

Kept apart from ``handler`` so the plumbing stays about HTTP. ``Wire.lost`` says the answer's
tokens will not reach the client whole (truncated, trickled, a token patched away); the
handler records such answers in ``StandInState.lost``.
"""

from __future__ import annotations

import codecs
import copy
import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from .methods import Answer
from .state import NO_BODY, Fault

JSON_UTF8 = "application/json; charset=utf-8"
TOKEN_KEYS = frozenset({"access_token", "refresh_token"})
HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>{status} {phrase}</title></head><body>"
    "<h1>{status} {phrase}</h1><p>The server could not handle your request.</p></body></html>"
)


@dataclass
class Wire:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    payload: bytes = b""
    lost: bool = False


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _encoded(text: str, fault: Fault | None) -> tuple[bytes, str]:
    """JSON text as bytes, in the fault's charset (declared) when it names one."""
    if fault is None or not fault.charset:
        return text.encode(), JSON_UTF8
    try:
        payload = text.encode(codecs.lookup(fault.charset).name)
    except LookupError:  # a charset nobody knows: declared, not applied
        payload = text.encode()
    return payload, f"application/json; charset={fault.charset}"


def _finish(wire: Wire, fault: Fault | None, issued: bool) -> Wire:
    if fault is None:
        return wire
    if fault.content_type is not None:
        wire.headers["Content-Type"] = fault.content_type
    if fault.retry_after is not None:
        wire.headers["Retry-After"] = str(fault.retry_after)
    elif wire.status == 429:
        wire.headers["Retry-After"] = "1"
    if fault.truncate is not None:
        wire.payload = wire.payload[: max(0, fault.truncate)]
        wire.lost = wire.lost or issued
    if fault.trickle:
        wire.lost = wire.lost or issued  # until every byte is written (see handler)
    return wire


def replacement(fault: Fault) -> Wire:
    """The answer a replacing fault sends instead of doing the method's work."""
    status = fault.status
    if fault.redirect is not None:
        status = status if 300 <= status < 400 else 302
        return _finish(Wire(status, {"Location": fault.redirect}), fault, issued=False)
    if fault.huge:
        return _finish(Wire(status, {"Content-Type": JSON_UTF8}), fault, issued=False)
    if fault.html:
        page = HTML_PAGE.format(status=status, phrase=_phrase(status)).encode()
        wire = Wire(status, {"Content-Type": "text/html; charset=utf-8"}, page)
    elif fault.raw is not None:
        wire = Wire(status, {"Content-Type": "application/octet-stream"}, fault.raw)
    else:
        if fault.body is not NO_BODY:
            value: Any = fault.body
        else:
            default = "ratelimited" if status == 429 else "internal_error"
            value = {"ok": False, "error": fault.error or default}
        payload, content_type = _encoded(json.dumps(value), fault)
        wire = Wire(status, {"Content-Type": content_type}, payload)
    return _finish(wire, fault, issued=False)


def _patched(body: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``body`` with each dotted path set (the issued record keeps the original)."""
    result = copy.deepcopy(body)
    for path, value in patch.items():
        *parents, last = path.split(".")
        node = result
        for key in parents:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[last] = value
    return result


def delivery(answer: Answer, fault: Fault | None, *, issued: bool) -> Wire:
    """The real answer, delivered as the fault says (or plainly, without one)."""
    body = answer.body
    lost = False
    if fault is not None and fault.patch:
        body = _patched(body, fault.patch)
        lost = issued and any(path.split(".")[-1] in TOKEN_KEYS for path in fault.patch)
    payload, content_type = _encoded(json.dumps(body), fault)
    headers = {"Content-Type": content_type, **answer.headers}
    return _finish(Wire(answer.status, headers, payload, lost), fault, issued)
