"""POST /slack/events: glue between Slack's Events API and slack_events (no Slack calls here).

Order matters (docs.slack.dev/authentication/verifying-requests-from-slack): the signature is
checked over the raw body before anything is parsed; only then is url_verification answered.
The body is never logged. Slack wants a 2xx within 3 seconds, so the work here is a few rows.
"""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import slack_events

logger = logging.getLogger(__name__)


def _text(body: str, status: int = 200) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt  # Slack cannot send a CSRF token; the request signature authenticates it instead
@require_POST
def events(request: HttpRequest) -> HttpResponse:
    if not slack_events.verify_signature(request.body, request.headers):
        return _text("invalid signature", status=401)
    try:
        payload = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict):
        return _text("malformed event: expected a JSON object", status=400)
    if payload.get("type") == "url_verification":
        return _text(str(payload.get("challenge") or ""))
    slack_events.handle_event(payload, retry_num=request.headers.get("X-Slack-Retry-Num", ""))
    return _text("ok")
