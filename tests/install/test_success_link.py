"""The success link carries what the success page shows, signed (install/links.py).

The page renders without a query, so the signed value is all it trusts: a value that
is not ours, or ours with another shape, is refused; a link signed by the release before (the
workspace's id) is still looked up, so a deploy breaks no install in progress.
"""

from __future__ import annotations

import pytest
from django.core import signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from installations.install.links import SALT, page_from_link, shown_on_page, success_url
from installations.models import Workspace
from tests.support.factories import saved_workspace
from tests.support.flow import Flow, query_of


def link_value(location: str) -> str:
    return query_of(location)["i"]


def test_the_page_shows_what_the_link_signed_without_a_query(flow: Flow) -> None:
    location = flow.install()["Location"]
    with CaptureQueriesContext(connection) as queries:
        page = flow.client.get(location, secure=True)
    assert page.status_code == 200
    assert queries.captured_queries == []
    workspace = Workspace.objects.get()
    assert signing.loads(link_value(location), salt=SALT) == shown_on_page(workspace)
    assert workspace.team_name in page.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "signed",
    [
        {"n": "Team", "t": "T1", "e": "", "en": "", "a": "A1"},  # no "o"
        {"n": "Team", "t": "T1", "e": "", "en": "", "a": "A1", "o": "yes"},
        {"n": 1, "t": "T1", "e": "", "en": "", "a": "A1", "o": False},
        ["Team", "T1"],
        "not-a-uuid",
        "00000000-0000-0000-0000-000000000000",  # a bare workspace id is not a page
    ],
)
def test_a_signed_value_of_another_shape_is_refused(signed: object) -> None:
    value = signing.dumps(signed, salt=SALT)
    page = Client().get("/slack/installed", {"i": value}, secure=True)
    assert page.status_code == 400
    assert b"invalid_success_link" in page.content


@pytest.mark.django_db
def test_a_link_signed_for_another_purpose_is_refused() -> None:
    workspace = saved_workspace()
    forged = signing.dumps(shown_on_page(workspace), salt="installations.something-else")
    page = Client().get("/slack/installed", {"i": forged}, secure=True)
    assert page.status_code == 400


@pytest.mark.django_db
def test_an_org_wide_install_links_to_slacks_admin_page() -> None:
    workspace = Workspace(
        enterprise_id="E0ORG",
        enterprise_name="The Org",
        app_id="A0APP",
        is_enterprise_install=True,
    )
    page = page_from_link(link_value(success_url(workspace)))
    assert (page.name, page.is_org) == ("The Org", True)
    assert page.open_url == (
        "https://app.slack.com/manage/E0ORG/integrations/profile/A0APP/workspaces/add"
    )
