"""HTTP glue for Sign in with Slack: the sign-in page, the start, Slack's callback, the link
confirmation, "My workspaces" and sign-out. Every failure goes through the app's one renderer
(``render_error``).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from installations.conf import slack_config
from installations.exceptions import SlackInstallError, render_error
from installations.install.cookie import BROWSER_BYTES, BROWSER_VALUE, binding
from installations.observability import metrics
from installations.signin import accounts, errors, flow, linking, next_page
from installations.signin.backends import BACKEND
from installations.signin.conf import signin_config
from installations.signin.id_token import SlackUser
from installations.signin.workspaces import install_link_back_here, workspaces_of

logger = logging.getLogger(__name__)


def _as_signin_error(exc: SlackInstallError) -> SlackInstallError:
    """Slack's refusals and outages keep their reason and status, on the sign-in error page."""
    if isinstance(exc, errors.SignInError):
        return exc
    return errors.SignInError(
        "Slack could not complete the sign-in. Please try again.",
        reason=exc.reason,
        status=exc.status,
        title=exc.title,
    )


def _fail(request: HttpRequest, exc: SlackInstallError) -> HttpResponse:
    error = _as_signin_error(exc)
    logger.info("sign-in failed reason=%s status=%s", error.reason, error.status)
    response = render_error(request, error)
    response["Referrer-Policy"] = "no-referrer"
    return response


def _unquoted(value: str | None) -> str | None:
    return value[1:-1] if value and len(value) >= 2 and value[0] == value[-1] == '"' else value


@require_GET
@never_cache
def signin_page(request: HttpRequest) -> HttpResponse:
    """``/slack/signin``: the Sign in with Slack button (it leads to ``signin_start``)."""
    try:
        flow.require_available()
    except SlackInstallError as exc:
        return _fail(request, exc)
    context = {"next": next_page.safe_next(request, request.GET.get("next"))}
    return render(request, "installations/signin/signin.html", context)


@require_GET
@never_cache
@sensitive_variables("browser")
def signin_start(request: HttpRequest) -> HttpResponse:
    """``/slack/signin/start``: a state bound to this browser, then off to Slack."""
    browser = _unquoted(request.COOKIES.get(flow.COOKIE_NAME))
    if not browser or not BROWSER_VALUE.fullmatch(browser):
        browser = secrets.token_urlsafe(BROWSER_BYTES)
    try:
        authorize_url = flow.start_signin(browser=binding(browser))
    except SlackInstallError as exc:
        return _fail(request, exc)
    response = HttpResponseRedirect(authorize_url)
    response["Referrer-Policy"] = "no-referrer"
    options = {
        "max_age": slack_config().state_ttl_seconds,
        "path": flow.cookie_path(),
        "secure": request.is_secure(),
        "httponly": True,
        "samesite": "Lax",  # Slack's redirect back is a top-level GET, which Lax allows
    }
    response.set_cookie(flow.COOKIE_NAME, browser, **options)  # type: ignore[arg-type]
    next_url = next_page.safe_next(request, request.GET.get("next"))
    if next_url:
        cookie = next_page.as_cookie(next_url)
        response.set_cookie(flow.NEXT_COOKIE_NAME, cookie, **options)  # type: ignore[arg-type]
    else:
        response.delete_cookie(flow.NEXT_COOKIE_NAME, path=flow.cookie_path())
    return response


def _login_backend() -> str:
    backends = list(getattr(settings, "AUTHENTICATION_BACKENDS", []))
    if BACKEND in backends:
        return BACKEND
    return backends[0] if backends else "django.contrib.auth.backends.ModelBackend"


@require_GET
@never_cache
@sensitive_variables("cookie")
def signin_callback(request: HttpRequest) -> HttpResponse:
    """``/slack/signin/callback``: verify, sign in (or ask before linking), leave the address."""
    cookie = _unquoted(request.COOKIES.get(flow.COOKIE_NAME))
    next_cookie = _unquoted(request.COOKIES.get(flow.NEXT_COOKIE_NAME))
    next_url = next_page.safe_next(request, next_page.from_cookie(next_cookie))
    try:
        slack_user = flow.finish_signin(request.GET, cookie)
        response: HttpResponse
        if accounts.needs_link_confirmation(slack_user, request.user):
            accounts.check_allowed(slack_user)
            linking.remember(request, slack_user, next_url)
            response = HttpResponseRedirect(reverse("slack_signin:link"))
        else:
            user = accounts.user_for(slack_user, request.user)
            response = _signed_in(request, user, slack_user, next_url)
    except SlackInstallError as exc:
        metrics.signin_finished(exc.metric_reason)
        return _fail(request, exc)
    metrics.signin_finished("ok")
    response.delete_cookie(flow.NEXT_COOKIE_NAME, path=flow.cookie_path())
    response["Referrer-Policy"] = "no-referrer"
    return response


def _signed_in(
    request: HttpRequest, user: Any, slack_user: SlackUser, next_url: str
) -> HttpResponse:
    login(request, user, backend=_login_backend())
    logger.info(
        "signed in with slack user=%s team=%s enterprise=%s",
        user.pk,
        slack_user.team_id,
        slack_user.enterprise_id or "-",
    )
    return HttpResponseRedirect(next_url or reverse("slack_signin:workspaces"))


@require_http_methods(["GET", "POST"])
@never_cache
@login_required(login_url=reverse_lazy("slack_signin:signin"))
def confirm_link(request: HttpRequest) -> HttpResponse:
    """``/slack/signin/link``: link the Slack identity that just signed in to the signed-in
    account (POST, CSRF-checked, ``action=link``), or leave both as they were (``cancel``)."""
    waiting = linking.pending(request)
    if waiting is None:
        return _fail(request, errors.NoPendingLink())
    if request.method == "GET":
        return render(request, "installations/signin/link.html", {"slack": waiting.slack_user})
    linking.forget(request)
    if request.POST.get("action") != "link":
        logger.info("slack identity link cancelled user=%s", request.user.pk)
        return HttpResponseRedirect(reverse("slack_signin:workspaces"))
    try:
        user = accounts.user_for(waiting.slack_user, request.user, link_confirmed=True)
    except SlackInstallError as exc:
        return _fail(request, exc)
    return _signed_in(request, user, waiting.slack_user, waiting.next_url)


@require_GET
@never_cache
@login_required(login_url=reverse_lazy("slack_signin:signin"))
def my_workspaces(request: HttpRequest) -> HttpResponse:
    """``/slack/signin/workspaces``: the workspaces this person installed the app into."""
    if not signin_config().enabled:
        return _fail(request, errors.SignInDisabled())
    identities = list(request.user.slack_identities.all())  # type: ignore[union-attr]
    context = {
        "rows": workspaces_of(identities),
        "identities": identities,
        "install_url": install_link_back_here(),
    }
    return render(request, "installations/signin/workspaces.html", context)


@require_POST
def signout(request: HttpRequest) -> HttpResponse:
    """``/slack/signin/logout`` (POST, CSRF-checked): end this browser's session."""
    logout(request)
    return HttpResponseRedirect(reverse("slack_signin:signin"))
