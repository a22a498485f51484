"""A logging filter that masks Slack tokens and webhook URLs: the second line of defence.

It catches what slips through, slack_sdk's and Django's records included (docs/security.md,
"What is logged"): values of secret-named keys are masked whatever they look like.
"""

from __future__ import annotations

import logging
import re

SECRET_PATTERNS = re.compile(
    r"(?:xoxe\.)?xox[abposer]-[A-Za-z0-9._-]+"  # bot, user, app, refresh and rotated tokens
    r"|xoxe-\d+-[A-Za-z0-9._-]+"  # refresh tokens
    r"|https://hooks\.slack(?:-gov)?\.com/[^\s\"'<>]+"  # incoming-webhook URLs
)

# key: value / "key": "value" / key=value, for keys whose values are secrets, ``state`` included
# (from a logged callback URL, anyone could finish that install or sign-in in their place).
SECRET_KEYS = re.compile(
    r"""(?P<key>["']?\b(?:code|client_secret|token|access_token|refresh_token|code_verifier"""
    r"""|signing_secret|state)\b["']?\s*[:=]\s*["']?)(?P<value>[^"'\s,&}]+)""",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    return SECRET_PATTERNS.sub("[redacted]", SECRET_KEYS.sub(r"\g<key>[redacted]", text))


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True
