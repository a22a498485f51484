"""A signed request body read once, for every path behind the Request URL: ours and Bolt's.

JSON (the Events API) or a form (slash commands; interactivity's ``payload`` field), chosen as
Bolt chooses, so a body that passes here is one Bolt parses to the same object. ``read_body``
refuses what nothing can use: a body that is not UTF-8 JSON or form within MAX_JSON_DEPTH, and
envelope fields Bolt reads before any listener runs that are not of Slack's documented types.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from installations.slack.answers import nests_deeper_than
from installations.slack.events import url_verification_challenge

# Slack's envelopes nest four levels; even rich-text message events stay far below this.
MAX_JSON_DEPTH = 64

# Ids Bolt's authorize looks up in the database: a NUL byte, a lone surrogate or a non-text value
# would make the query itself fail. Slack's ids are short ASCII.
ID_TEXT = re.compile(r"[ -~]{0,255}")


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and ID_TEXT.fullmatch(value) is not None


def _objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


# The kinds of the envelope's fields: (whether a value is of the kind, the kind in words).
OBJECT = (lambda v: isinstance(v, dict), "an object")
OBJECT_OR_NULL = (lambda v: v is None or isinstance(v, dict), "an object")
ID_OR_OBJECT = (lambda v: v is None or isinstance(v, dict) or _is_id(v), "an id or an object")
ID = (lambda v: v is None or _is_id(v), "an id")
TEXT = (lambda v: v is None or isinstance(v, str), "text")  # Bolt matches patterns against it
OBJECTS = (lambda v: v is None or _objects(v), "a list of objects")
SOME_OBJECTS = (lambda v: bool(v) and _objects(v), "a list of objects")
# Each envelope field, by the type Slack documents for it.
FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    **dict.fromkeys(("event", "view"), OBJECT),
    **dict.fromkeys(("message", "previous_message", "item", "assistant_thread"), OBJECT_OR_NULL),
    **dict.fromkeys(("container", "function"), OBJECT_OR_NULL),
    **dict.fromkeys(("enterprise", "team", "user", "channel"), ID_OR_OBJECT),
    **dict.fromkeys(("id", "team_id", "enterprise_id", "user_id", "channel_id"), ID),
    "app_installed_team_id": ID,
    **dict.fromkeys(("type", "subtype", "command", "callback_id", "action_id", "block_id"), TEXT),
    "response_url": TEXT,
    **dict.fromkeys(("authorizations", "response_urls"), OBJECTS),
    "actions": SOME_OBJECTS,  # Bolt reads the first action of block_actions
}
# Objects whose own fields Bolt reads as an envelope's (its extract_* helpers recurse into them),
# and lists of such objects.
NESTED = frozenset(
    {"event", "message", "previous_message", "item", "assistant_thread", "view", "function"}
    | {"enterprise", "team", "user", "channel"}
)
NESTED_LISTS = frozenset({"authorizations", "response_urls", "actions"})


class UnusableBody(ValueError):
    """A signed body that neither our endpoint nor a Bolt app can use; ``reason`` says why, in
    words that are safe to answer with (they never quote the body)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The signed ``body`` as the object Bolt would parse it to; UnusableBody when it is none."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise UnusableBody("the body is not UTF-8") from None
    if not text:
        raise UnusableBody("the body is empty")
    media_type = (content_type or "").split(";")[0]
    if media_type == "application/json" or text.startswith("{"):
        payload = _json_object(text, "the body")
    elif "payload" in text:  # Bolt's own test for an interactivity form
        field = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
        payload = {} if field is None else _json_object(field, "the payload field")
    else:
        payload = dict(parse_qsl(text, keep_blank_values=True))  # a slash command's fields
    problem = envelope_problem(payload)
    if problem:
        raise UnusableBody(problem)
    if payload.get("type") == "url_verification" and url_verification_challenge(payload) is None:
        raise UnusableBody("url_verification without a challenge")
    return payload


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python accepts them, RFC 8259 not


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # also a number too long for int()
        raise UnusableBody(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise UnusableBody(f"{what} is not a JSON object")
    if nests_deeper_than(value, MAX_JSON_DEPTH):
        raise UnusableBody(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def envelope_problem(payload: Mapping[str, Any]) -> str | None:
    """None when every envelope field Bolt reads has the type Slack documents; else which one
    does not. Iterative over the nested envelopes (each level is at most MAX_JSON_DEPTH deep)."""
    event = payload.get("event")
    if isinstance(event, dict) and not TEXT[0](event.get("text")):
        return "event.text is not text"  # Bolt's message listeners search it for their keyword
    stack: list[tuple[str, Mapping[str, Any]]] = [("", payload)]
    while stack:
        path, level = stack.pop()
        for key, value in level.items():
            kind = FIELDS.get(key)
            if kind is None:
                continue
            is_kind, words = kind
            if not is_kind(value):
                return f"{path}{key} is not {words}"
            if key in NESTED and isinstance(value, dict):
                stack.append((f"{path}{key}.", value))
            elif key in NESTED_LISTS and value:
                stack.extend((f"{path}{key}[].", item) for item in value)
    return None
