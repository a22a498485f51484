"""HTTP glue: read the request, call one service, render. No calls to Slack here.

The install flow's pages and the Request URLs. The signature is checked over the raw body before
anything is parsed (docs/slack-protocol.md §6), and the body is never logged. No input an
anonymous sender controls gets a 500 (docs/security.md): too large 413, bad length 400, bad
signature 401, a signed body nothing can use 400, a lifecycle event of odd fields 200 (a retry
would carry the same body). A lifecycle event is recorded before any answer, Bolt's too; a
database that refuses it is a 503, so Slack retries.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.contrib import messages
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_POST, require_safe

from installations.bolt import request_url
from installations.exceptions import SlackInstallError, render_error
from installations.install.callback import handle_callback
from installations.install.cookie import (
    browser_value_for_install,
    read_state_cookie,
    set_state_cookies,
)
from installations.install.flow import clean_team, start_install
from installations.install.links import page_from_link, success_page, success_url
from installations.install.next_page import clean_next, is_safe_next
from installations.lifecycle import slack_events
from installations.models import Workspace
from installations.observability import metrics
from installations.slack import events as slack_payloads
from installations.slack import request_body
from installations.slack.signature import verify_signature

logger = logging.getLogger(__name__)

# --- the Add to Slack flow ----------------------------------------------------------------------


@require_safe  # GET, and HEAD for link checkers and probes (a state is issued, nothing written)
@never_cache
@sensitive_variables("browser")
def install_page(request: HttpRequest) -> HttpResponse:
    """``/slack/install``: the Add to Slack button, with a new state bound to this browser;
    writes nothing to the database."""
    browser = browser_value_for_install(request)
    try:
        next_page = clean_next(request, request.GET.get("next"))
        started = start_install(
            clean_team(request.GET.get("team")), browser_value=browser, next_page=next_page
        )
    except SlackInstallError as exc:
        return render_error(request, exc)
    context = {"authorize_url": started.authorize_url, "next_page": next_page}
    response = render(request, "installations/install.html", context)
    set_state_cookies(request, response, browser)
    return response


@require_GET  # not HEAD: a probe must never spend a code
@sensitive_variables("cookie")
def oauth_redirect(request: HttpRequest) -> HttpResponse:
    """``/slack/oauth_redirect``: always leaves the address holding ``code`` right away; the
    state cookie stays (another tab may be on its way back with its own state)."""
    cookie = read_state_cookie(request)
    try:
        done = handle_callback(request.GET, cookie, request=request)
        # Checked again here: the host the callback arrives on is the one that counts.
        safe = done.next_page if is_safe_next(request, done.next_page) else ""
        if safe:
            _confirm_on_next_page(request, done.workspace)
        response: HttpResponse = HttpResponseRedirect(success_url(done.workspace, next_page=safe))
        metrics.install_finished("ok")
    except SlackInstallError as exc:
        response = render_error(request, exc)
        metrics.install_finished(exc.metric_reason)
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response


def _confirm_on_next_page(request: HttpRequest, workspace: Workspace) -> None:
    """Tell the host's ``next`` page the install worked: a success message naming the workspace
    as the success page would, from a template the host may override (none without the
    messages framework)."""
    context = {"name": success_page(workspace).name}
    text = render_to_string("installations/installed_message.txt", context).strip()
    messages.success(request, text, fail_silently=True)


@require_safe
@never_cache
def installed(request: HttpRequest) -> HttpResponse:
    """``/slack/installed``: names the workspace and opens Slack."""
    try:
        page = page_from_link(request.GET.get("i"))
    except SlackInstallError as exc:
        return render_error(request, exc)
    return render(request, "installations/success.html", {"page": page})


# --- the Events API ----------------------------------------------------------------------


# Lifecycle events are a few hundred bytes; DATA_UPLOAD_MAX_MEMORY_SIZE is a second cap.
MAX_BODY_BYTES = 1024 * 1024
CONTENT_LENGTH = re.compile(r"[0-9]{1,20}")
RETRY_NUM = re.compile(r"[0-9]{1,3}")  # Slack retries three times


def _text(body: str, status: int = 200) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


def _body_refusal(request: HttpRequest) -> HttpResponse | None:
    """The answer for a body we will not read (too large, unparsable length); None to read it.
    Checked before ``request.body``, which would raise a 500 or log a traceback on these."""
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


def _signed_body(request: HttpRequest) -> bytes | HttpResponse:
    """The body of a request Slack signed, or the answer refusing it: checked before anything,
    ours or a Bolt app's, parses the body (docs/security.md, "Signed requests")."""
    refusal = _body_refusal(request)
    if refusal is not None:
        return refusal
    try:
        body = request.body
    except RequestDataTooBig:  # an operator set DATA_UPLOAD_MAX_MEMORY_SIZE below our cap
        return _text("event too large", status=413)
    if not verify_signature(body, request.headers):
        return _text("invalid signature", status=401)
    return body


def _recorded_payload(request: HttpRequest) -> dict[str, Any] | HttpResponse:
    """A signed request's payload once its lifecycle event (if any) is recorded; else the
    answer refusing it. Slack's 200 comes only after the event's effects are committed (Slack
    never resends an acknowledged event); a database that refuses the write is a 503."""
    body = _signed_body(request)
    if isinstance(body, HttpResponse):
        return body
    try:
        payload = request_body.read_body(body, request.headers.get("Content-Type"))
    except request_body.UnusableBody as exc:
        return _text(f"unusable request: {exc.reason}", status=400)
    if slack_payloads.event_kind(payload):
        retry = retry_number(request.headers.get("X-Slack-Retry-Num"))
        try:
            slack_events.handle_event(payload, retry_num=retry)
        except DatabaseError as exc:
            logger.error("event not recorded (%s): answered 503, Slack retries", type(exc).__name__)
            return _text("event not recorded: retry later", status=503)
    return payload


@csrf_exempt  # Slack cannot send a CSRF token; the request signature authenticates it instead
@require_POST
@transaction.non_atomic_requests  # recorded (committed) before the developer's code sees it
def events(request: HttpRequest) -> HttpResponse:
    """The Events Request URL: the developer's Bolt app when SLACK_BOLT_APP is set, else ours."""
    payload = _recorded_payload(request)
    if isinstance(payload, HttpResponse):
        return payload
    if request_url.configured_app() is not None:
        return _bolt(request)
    challenge = slack_payloads.url_verification_challenge(payload)
    if payload.get("type") == "url_verification" and challenge:
        return _text(challenge)
    return _text("ok")


# --- the developer's Bolt app (installations/bolt/request_url.py) ---------------------------


def _bolt(request: HttpRequest) -> HttpResponse:
    """A signed, readable request, its lifecycle event recorded, served by the developer's app
    (Bolt checks the signature again and answers url_verification)."""
    if request_url.is_async():
        return request_url.serve_async(request)
    return request_url.handle(request)


@csrf_exempt  # signed by Slack, checked here and by Bolt
@require_POST
@transaction.non_atomic_requests
def bolt_only(request: HttpRequest) -> HttpResponse:
    """Slash commands and interactivity: only a developer's Bolt app has listeners for them."""
    if request_url.configured_app() is None:
        raise Http404("no SLACK_BOLT_APP")
    payload = _recorded_payload(request)
    return payload if isinstance(payload, HttpResponse) else _bolt(request)
