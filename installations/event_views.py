"""POST /slack/events: glue between Slack's Events API and slack_events (no Slack calls here).

Order matters (docs.slack.dev/authentication/verifying-requests-from-slack): the signature is
checked over the raw body before anything is parsed; only then is url_verification answered.
The body is never logged. Slack wants a 2xx within 3 seconds, so the work here is a few rows.

Every input an anonymous sender controls has one answer and none is a 500 (docs/security.md,
"§6 The Events API"): a body over MAX_BODY_BYTES is a 413 before it is read, a Content-Length
that is not a number a 400, any header value or body without a valid signature a 401; a signed
body that is not a JSON object (or nests absurdly deep) a 400; a signed event whose fields are
not what Slack documents is acknowledged and ignored (200), since Slack's retry would carry the
same body.
"""

from __future__ import annotations

import logging
import re

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from installations import slack_events

logger = logging.getLogger(__name__)

# Lifecycle events are a few hundred bytes; one that lists every user of a large workspace stays
# far below this. Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default) is a second cap.
MAX_BODY_BYTES = 1024 * 1024
CONTENT_LENGTH = re.compile(r"[0-9]{1,20}")
RETRY_NUM = re.compile(r"[0-9]{1,3}")  # Slack retries three times


def _text(body: str, status: int = 200) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


def _body_refusal(request: HttpRequest) -> HttpResponse | None:
    """The answer for a body we will not read (too large, unparsable length); None to read it.

    Checked before ``request.body``: Django would int() a malformed Content-Length (ValueError, a
    500) and turn one over DATA_UPLOAD_MAX_MEMORY_SIZE into RequestDataTooBig, which it logs at
    ERROR with a traceback.
    """
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared and not (isinstance(declared, str) and CONTENT_LENGTH.fullmatch(declared)):
        return _text("malformed Content-Length", status=400)
    if declared and int(declared) > MAX_BODY_BYTES:
        return _text("event too large", status=413)
    return None


def retry_number(value: str | None) -> int | None:
    """X-Slack-Retry-Num as a number: 0 when absent, None when it is not a small number."""
    if not value:
        return 0
    return int(value) if RETRY_NUM.fullmatch(value) else None


@csrf_exempt  # Slack cannot send a CSRF token; the request signature authenticates it instead
@require_POST
def events(request: HttpRequest) -> HttpResponse:
    refusal = _body_refusal(request)
    if refusal is not None:
        return refusal
    try:
        body = request.body
    except RequestDataTooBig:  # an operator set DATA_UPLOAD_MAX_MEMORY_SIZE below our cap
        return _text("event too large", status=413)
    if not slack_events.verify_signature(body, request.headers):
        return _text("invalid signature", status=401)
    payload = slack_events.parse_payload(body)
    if payload is None:
        return _text("malformed event: expected a JSON object", status=400)
    if payload.get("type") == "url_verification":
        challenge = slack_events.url_verification_challenge(payload)
        if challenge is None:
            return _text("malformed url_verification: no challenge", status=400)
        return _text(challenge)
    retry = retry_number(request.headers.get("X-Slack-Retry-Num"))
    slack_events.handle_event(payload, retry_num=retry)
    return _text("ok")
