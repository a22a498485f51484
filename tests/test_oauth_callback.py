"""GET /slack/oauth_redirect: the happy path and every failure, over real HTTP to the stand-in."""

from __future__ import annotations

from urllib.parse import urlsplit

from installations.models import Installation, OAuthState, Workspace
from tests.fixtures_flow import Flow


def test_happy_callback_redirects_to_a_clean_success_url(flow: Flow) -> None:
    response = flow.install()
    assert response.status_code == 302
    location = response["Location"]
    assert urlsplit(location).path == "/slack/installed"
    assert "code" not in location and "state" not in location
    assert Workspace.objects.count() == 1
    assert Installation.objects.count() == 1
    assert OAuthState.objects.count() == 0
