"""A signed request body read once, for every path behind the Request URL: ours and Bolt's.

Slack posts JSON (the Events API) or a form (slash commands: text fields; interactivity: one
``payload`` field holding JSON). The format is chosen here as Bolt chooses it (a content type of
``application/json`` or a body starting with ``{`` is JSON; a form body that mentions ``payload``
is that field's JSON, or nothing; any other form is its fields), so that a body that passes here
is one Bolt parses to the same object. ``read_body`` refuses, with a short reason, what nothing can
use: a body that is empty or not UTF-8, JSON that is malformed, not an object, holds NaN or
Infinity or nests deeper than MAX_JSON_DEPTH (``json.loads`` raises RecursionError near Python's
recursion limit), a ``payload`` field that is not such an object, and an object whose envelope
fields are not of the types Slack documents.

Those envelope fields are the ones Bolt reads on every request before any listener runs (it
builds the request context from them and matches listeners on them) and that would make it raise:
``event`` a string, ``authorizations`` an object, ``team`` a number, ``actions`` empty. They are
checked in the objects Bolt reads them from: the top level, and recursively ``event``, ``message``,
``previous_message``, ``item``, ``assistant_thread``, ``view``, ``function``, the objects of
``team``, ``enterprise``, ``user`` and ``channel``, and the items of ``authorizations``,
``actions`` and ``response_urls``. The ids among them (which Bolt's authorize looks up) must be
short printable ASCII, as Slack's are. Anything deeper (blocks, metadata, inputs) is the
developer's data, never checked here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from installations.slack.answers import nests_deeper_than
from installations.slack.events import url_verification_challenge

# Slack's envelopes nest four levels; even rich-text message events stay far below this.
MAX_JSON_DEPTH = 64

# The envelope's fields, by the type Slack documents for them (null is accepted unless named).
OBJECTS = ("message", "previous_message", "item", "assistant_thread", "container", "function")
OBJECTS_NOT_NULL = ("event", "view")
ID_OR_OBJECT = ("enterprise", "team", "user", "channel")  # an id, or an object with its "id"
# Ids Bolt's authorize looks up in the database: a NUL byte, a lone surrogate or a non-text value
# would make the query itself fail. Slack's ids are short ASCII.
IDS = ("id", "team_id", "enterprise_id", "user_id", "channel_id", "app_installed_team_id")
ID_TEXT = re.compile(r"[ -~]{0,255}")
# Text Bolt matches listeners' patterns against (re.search of anything else raises).
TEXTS = ("type", "subtype", "command", "callback_id", "action_id", "block_id", "response_url")
LISTS_OF_OBJECTS = ("authorizations", "response_urls")
# Objects whose own fields Bolt reads as an envelope's (its extract_* helpers recurse into them).
NESTED_ENVELOPES = (
    *("event", "message", "previous_message", "item", "assistant_thread", "view", "function"),
    *ID_OR_OBJECT,
)


class UnusableBody(ValueError):
    """A signed body that neither our endpoint nor a Bolt app can use; ``reason`` says why, in
    words that are safe to answer with (they never quote the body)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The signed ``body`` as the object Bolt would parse it to; UnusableBody when it is none.

    ``content_type`` is the request's Content-Type header as sent (parameters are ignored)."""
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
    if isinstance(event, dict) and not isinstance(event.get("text"), str | None):
        return "event.text is not text"  # Bolt's message listeners search it for their keyword
    stack: list[tuple[str, Mapping[str, Any]]] = [("", payload)]
    while stack:
        path, level = stack.pop()
        problem = _field_problem(level)
        if problem:
            return f"{path}{problem}"
        for key in NESTED_ENVELOPES:
            if isinstance(level.get(key), dict):
                stack.append((f"{path}{key}.", level[key]))
        for key in (*LISTS_OF_OBJECTS, "actions"):
            stack.extend((f"{path}{key}[].", item) for item in level.get(key) or ())
    return None


def _field_problem(level: Mapping[str, Any]) -> str | None:
    """The first field of this one object that is not of its documented type."""
    for key in OBJECTS:
        if not isinstance(level.get(key), dict | None):
            return f"{key} is not an object"
    for key in OBJECTS_NOT_NULL:
        if key in level and not isinstance(level[key], dict):
            return f"{key} is not an object"
    for key in ID_OR_OBJECT:
        value = level.get(key)
        if not (isinstance(value, dict | None) or _is_id(value)):
            return f"{key} is neither an id nor an object"
    for key in IDS:
        value = level.get(key)
        if not (value is None or _is_id(value)):
            return f"{key} is not an id"
    for key in TEXTS:
        if not isinstance(level.get(key), str | None):
            return f"{key} is not text"
    for key in LISTS_OF_OBJECTS:
        if not _list_of_objects(level.get(key), allow_none=True):
            return f"{key} is not a list of objects"
    if "actions" in level and not (level["actions"] and _list_of_objects(level["actions"])):
        return "actions is not a list of objects"
    return None


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and ID_TEXT.fullmatch(value) is not None


def _list_of_objects(value: Any, *, allow_none: bool = False) -> bool:
    if value is None:
        return allow_none
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)
