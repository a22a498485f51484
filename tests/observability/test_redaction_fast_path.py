"""The redaction filter's fast path (issue 15): a line with no clue of a secret skips the two
scans, and the result is always exactly what the full scans give."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from installations.observability import redaction
from installations.observability.redaction import SECRET_KEYS, SECRET_PATTERNS, redact


def _full_scans(text: str) -> str:
    return SECRET_PATTERNS.sub("[redacted]", SECRET_KEYS.sub(r"\g<key>[redacted]", text))


# Pieces that build secret shapes, near misses and letter-case / Unicode tricks.
PIECES = st.sampled_from(
    [
        "xoxb-",
        "xoxe.",
        "xoxe-1-",
        "XOXB-",
        "https://hooks.slack.com/",
        "HOOKS.SLACK",
        "code",
        "CoDe",
        "client_secret",
        "client_\u017fecret",  # LATIN SMALL LETTER LONG S: IGNORECASE matches it to "s"
        "Token",
        "refresh_token",
        "state",
        "STATE",
        "oauth_state",
        "\u212aey",  # KELVIN SIGN, matched to "k" under IGNORECASE
        "=",
        ": ",
        '"',
        "'",
        " ",
        "&",
        "abc123",
        "GET /slack/oauth_redirect HTTP/1.1",
        "é",
    ]
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(PIECES, max_size=12).map("".join))
def test_redact_equals_the_full_scans(text: str) -> None:
    assert redact(text) == _full_scans(text)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(max_size=60))
def test_redact_equals_the_full_scans_on_any_text(text: str) -> None:
    assert redact(text) == _full_scans(text)


def test_an_access_log_line_skips_the_scans_and_a_secret_still_does_not() -> None:
    line = '127.0.0.1 "GET /slack/oauth_redirect HTTP/1.1" 302 0 34ms'
    assert not redaction._may_hold_secret(line)
    assert redact(line) is line
    long_s = "client_\u017fecret=plain-value"
    assert redact(long_s) == _full_scans(long_s)
    assert "plain-value" not in redact("CLIENT_SECRET=plain-value")
    assert "xoxb-1-2" not in redact("token xoxb-1-2-abc")
