"""The clean success URL the callback redirects to, and the links the success page offers.

The callback never renders a page whose address still holds ``code`` and ``state`` (RFC 9700
§4.2.4, §4.3.1): it redirects to ``/slack/installed?i=<signed page>``, a short-lived signed value
holding what the page shows (names and ids, none secret), so the page needs no query and says
nothing else. Deep links follow slack_sdk's ``RedirectUriPageRenderer``; org-wide installs link
to Slack's "add to workspaces" page (docs/slack-protocol.md §7).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
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


def shown_on_page(workspace: Workspace) -> dict[str, str | bool]:
    """What the success page shows of ``workspace`` (and what its link signs): nothing secret."""
    return {
        "n": workspace.team_name,
        "t": workspace.team_id,
        "e": workspace.enterprise_id,
        "en": workspace.enterprise_name,
        "a": workspace.app_id,
        "o": workspace.is_enterprise_install,
    }


SHOWN_TEXT = ("n", "t", "e", "en", "a")


def success_url(workspace: Workspace, *, next_page: str = "") -> str:
    """The success page, or the host's own ``next`` page (checked when the flow started)."""
    if next_page:
        return next_page
    value = signing.dumps(shown_on_page(workspace), salt=SALT, compress=True)
    return reverse("installations:installed") + "?" + urlencode({"i": value})


def page_from_link(value: str | None) -> SuccessPage:
    """The success page a link signed by ``success_url`` shows; InvalidSuccessLink otherwise."""
    if not value:
        raise InvalidSuccessLink()
    try:
        shown = signing.loads(value, salt=SALT, max_age=SUCCESS_LINK_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is a subclass
        raise InvalidSuccessLink() from None
    if not (
        isinstance(shown, dict)
        and all(isinstance(shown.get(key), str) for key in SHOWN_TEXT)
        and isinstance(shown.get("o"), bool)
    ):
        raise InvalidSuccessLink()
    return _page(shown)


def success_page(workspace: Workspace) -> SuccessPage:
    """What the success page would show of ``workspace`` (the message after ``?next=`` names it)."""
    return _page(shown_on_page(workspace))


def _page(shown: dict[str, Any]) -> SuccessPage:
    app = quote(shown["a"], safe="")
    if shown["o"]:
        org = quote(shown["e"], safe="")
        admin = f"https://app.slack.com/manage/{org}/integrations/profile/{app}/workspaces/add"
        return SuccessPage(
            name=shown["en"] or shown["e"],
            is_org=True,
            open_url=admin,
            web_url=admin,
        )
    team = quote(shown["t"], safe="")
    return SuccessPage(
        name=shown["n"] or shown["t"],
        is_org=False,
        open_url="slack://app?" + urlencode({"team": shown["t"], "id": shown["a"]}),
        web_url=f"https://app.slack.com/client/{team}",
    )
