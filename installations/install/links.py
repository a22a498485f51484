"""The clean success URL the callback redirects to, and the links the success page offers.

The callback never renders a page whose address still holds ``code`` and ``state`` (RFC 9700
§4.2.4, §4.3.1): it redirects to ``/slack/installed?i=<signed workspace id>``. The signature keeps
anyone from reading other installs' names by guessing ids; it is valid for a short while only.
Deep links follow slack_sdk's ``RedirectUriPageRenderer``: ``slack://app?team=..&id=..`` with a
browser fallback; for org-wide installs, Slack's "add to workspaces" page
(docs/slack-protocol.md §7).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from django.core import signing
from django.urls import reverse

from installations.exceptions import InvalidSuccessLink
from installations.models import Workspace

SALT = "installations.success"
SUCCESS_LINK_MAX_AGE = 15 * 60


@dataclass(frozen=True)
class SuccessPage:
    name: str
    is_org: bool
    open_url: str  # the slack:// deep link (workspaces) or the org admin page (org-wide)
    web_url: str  # a browser fallback


def success_url(workspace: Workspace, *, next_page: str = "") -> str:
    """The success page, or the host's own ``next`` page (checked when the flow started)."""
    if next_page:
        return next_page
    value = signing.dumps(str(workspace.pk), salt=SALT)
    return reverse("installations:installed") + "?" + urlencode({"i": value})


def workspace_from_link(value: str | None) -> Workspace:
    if not value:
        raise InvalidSuccessLink()
    try:
        pk = signing.loads(value, salt=SALT, max_age=SUCCESS_LINK_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is a subclass
        raise InvalidSuccessLink() from None
    workspace = Workspace.objects.filter(pk=pk).first()
    if workspace is None:
        raise InvalidSuccessLink()
    return workspace


def success_page(workspace: Workspace) -> SuccessPage:
    app = quote(workspace.app_id, safe="")
    if workspace.is_enterprise_install:
        org = quote(workspace.enterprise_id, safe="")
        admin = f"https://app.slack.com/manage/{org}/integrations/profile/{app}/workspaces/add"
        return SuccessPage(
            name=workspace.enterprise_name or workspace.enterprise_id,
            is_org=True,
            open_url=admin,
            web_url=admin,
        )
    team = quote(workspace.team_id, safe="")
    return SuccessPage(
        name=workspace.team_name or workspace.team_id,
        is_org=False,
        open_url="slack://app?" + urlencode({"team": workspace.team_id, "id": workspace.app_id}),
        web_url=f"https://app.slack.com/client/{team}",
    )
