"""RejectNulBytesMiddleware's fast path (issue 15): a request whose raw query string and Cookie
header cannot decode to a NUL is let through without walking the parsed values, and the answer
is always the one the full walk gives (installations/middleware.py)."""

from __future__ import annotations

from typing import Any

from django.test import RequestFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from installations import middleware
from installations.middleware import NUL, holds_nul

rf = RequestFactory()


def _full_walk(request: Any) -> bool:
    query = request.GET
    if NUL in request.path:
        return True
    if any(NUL in key or any(NUL in v for v in query.getlist(key)) for key in query):
        return True
    return any(NUL in key or NUL in value for key, value in request.COOKIES.items())


QUERY_PIECES = st.sampled_from(
    ["a", "=", "&", "%00", "%2500", "%0", "0", "+", "%C3%A9", "\x00", ";", "b=1", "%"]
)
COOKIE_PIECES = st.sampled_from(
    ["c", "=", "; ", '"', "\\000", "\\0", "\\", "0", "\x00", "d=e", "%00", "\\\\"]
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(QUERY_PIECES, max_size=10).map("".join),
    st.lists(COOKIE_PIECES, max_size=10).map("".join),
)
def test_the_fast_path_answers_what_the_full_walk_answers(query: str, cookie: str) -> None:
    fast = holds_nul(rf.get("/slack/install?" + query, HTTP_COOKIE=cookie))
    assert fast == _full_walk(rf.get("/slack/install?" + query, HTTP_COOKIE=cookie))


def test_an_escaped_nul_in_a_quoted_cookie_is_still_found() -> None:
    request = rf.get("/slack/install", HTTP_COOKIE='c="a\\000b"')
    assert middleware._raw_may_hold_nul(request)
    assert holds_nul(request)


def test_a_plain_request_skips_the_walk_and_parsed_values_are_always_walked() -> None:
    plain = rf.get("/slack/installed?i=abc.def", HTTP_COOKIE="sessionid=x; csrftoken=y")
    assert not middleware._raw_may_hold_nul(plain)
    assert not holds_nul(plain)
    changed = rf.get("/slack/installed?i=abc")
    values = changed.GET.copy()
    values["i"] = "a\x00b"
    changed.__dict__["GET"] = values  # set by a middleware before ours, not from the raw query
    assert holds_nul(changed)
