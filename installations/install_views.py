"""Install page, OAuth redirect handler and success page: glue only (read, call, render)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET

from installations.errors import SlackInstallError, render_error
from installations.install_links import success_page, success_url, workspace_from_link
from installations.oauth import clean_team, start_install
from installations.oauth_callback import handle_callback
from installations.state_cookie import (
    binding,
    browser_value_for_install,
    read_state_cookie,
    set_state_cookies,
)


@require_GET
@never_cache
@sensitive_variables("browser")
def install_page(request: HttpRequest) -> HttpResponse:
    """``/slack/install``: the Add to Slack button, with a new state bound to this browser.

    Writes nothing to the database (``oauth_state``), so any number of visits is harmless."""
    browser = browser_value_for_install(request)
    try:
        started = start_install(clean_team(request.GET.get("team")), browser=binding(browser))
    except SlackInstallError as exc:
        return render_error(request, exc)
    response = render(
        request, "installations/install.html", {"authorize_url": started.authorize_url}
    )
    set_state_cookies(request, response, browser)
    return response


@require_GET
@sensitive_variables("cookie")
def oauth_redirect(request: HttpRequest) -> HttpResponse:
    """``/slack/oauth_redirect``: always leaves the address holding ``code`` right away.

    The state cookie is left in place whatever happens: another tab of this browser may still
    be on its way back with its own state (``state_cookie``)."""
    cookie = read_state_cookie(request)
    try:
        workspace = handle_callback(request.GET, cookie)
        response: HttpResponse = HttpResponseRedirect(success_url(workspace))
    except SlackInstallError as exc:
        response = render_error(request, exc)
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@never_cache
def installed(request: HttpRequest) -> HttpResponse:
    """``/slack/installed``: names the workspace and opens Slack."""
    try:
        workspace = workspace_from_link(request.GET.get("i"))
    except SlackInstallError as exc:
        return render_error(request, exc)
    return render(request, "installations/success.html", {"page": success_page(workspace)})
