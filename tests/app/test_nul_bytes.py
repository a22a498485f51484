"""A NUL byte anywhere a request carries text is a 400 with a readable page,
never a 500 (PostgreSQL cannot store or compare text holding NUL). Runs on SQLite and, with
DATABASE_URL set, on PostgreSQL, where the 500 happened (installations/middleware.py).

Also the admin list's other parameters: a filter value that is not among the choices, or a
lookup nobody offered, must not reach the database as a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client, RequestFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from installations.install.cookie import COOKIE_NAME
from installations.middleware import holds_nul
from installations.models import OAuthState

CHANGELIST = "/admin/installations/workspace/"


def assert_readable_400(response: Any) -> None:
    assert response.status_code == 400
    body = response.content.decode()
    assert "<h1>Bad request</h1>" in body
    assert "Traceback" not in body and "\x00" not in body


@pytest.mark.parametrize(
    "query",
    [
        "health=%00",
        "q=%00",
        "q=T0ABC%00",
        "status=%00",
        "reason=active%00",
        "enterprise=E0%00GRID",
        "install_type=%00",
        "user_tokens=%00",
        "rotation=yes%00",
        "o=1%00",
        "p=%00",
        "%00=1",
        "team_id__contains=%00",
    ],
)
def test_admin_changelist_parameters_with_nul_are_400(
    viewer: Client, audit_workspace: Callable, query: str
) -> None:
    audit_workspace(enterprise_id="E0GRID")
    assert_readable_400(viewer.get(f"{CHANGELIST}?{query}", secure=True))


def test_admin_pages_with_nul_in_the_path_are_400(
    viewer: Client, audit_workspace: Callable
) -> None:
    workspace = audit_workspace()
    assert_readable_400(viewer.get(f"{CHANGELIST}{workspace.pk}%00/change/", secure=True))
    assert_readable_400(viewer.get("/admin/%00", secure=True))


def test_the_same_admin_list_without_nul_works(viewer: Client, audit_workspace: Callable) -> None:
    audit_workspace(enterprise_id="E0GRID")
    for query in ("q=T0AUDIT", "enterprise=E0GRID", "status=active"):
        assert viewer.get(f"{CHANGELIST}?{query}", secure=True).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/slack/install", {"team": "\x00"}),
        ("/slack/install", {"team": "T0ABC123\x00"}),
        ("/slack/oauth_redirect", {"state": "\x00", "code": "c"}),
        ("/slack/oauth_redirect", {"error": "access_denied\x00"}),
        ("/slack/installed", {"i": "\x00"}),
        ("/healthz", {"x": "\x00"}),
    ],
)
def test_public_pages_with_nul_in_the_query_are_400(path: str, query: dict[str, str]) -> None:
    response = Client().get(path, query, secure=True)
    assert_readable_400(response)
    assert COOKIE_NAME not in response.cookies
    assert OAuthState.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "cookie",
    [f"{COOKIE_NAME}=a\x00b", "sessionid=\x00", "csrftoken=x\x00", "x\x00y=1"],
)
@pytest.mark.parametrize("path", ["/slack/install", "/slack/oauth_redirect?state=s&code=c"])
def test_a_cookie_with_nul_is_400(cookie: str, path: str) -> None:
    assert_readable_400(Client().get(path, secure=True, HTTP_COOKIE=cookie))


def test_a_staff_cookie_with_nul_is_400(viewer: Client) -> None:
    session = viewer.cookies["sessionid"].value
    response = Client().get(CHANGELIST, secure=True, HTTP_COOKIE=f"sessionid={session}\x00")
    assert_readable_400(response)


def test_a_nul_request_is_logged_as_a_warning_not_an_error(
    db: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        Client().get("/slack/install", {"team": "\x00"}, secure=True)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


# --- properties ----------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(TEXT, TEXT, st.sampled_from(["/slack/install", "/slack/oauth_redirect", "/healthz"]))
def test_any_parameter_with_nul_is_400_and_without_never_500(
    db: None, before: str, after: str, path: str
) -> None:
    with_nul = Client().get(path, {"team": before + "\x00" + after, "state": after}, secure=True)
    assert with_nul.status_code == 400
    without = Client().get(path, {"team": before + after, "state": after}, secure=True)
    assert without.status_code < 500


def test_holds_nul_looks_at_names_and_every_value() -> None:
    from django.test import RequestFactory

    rf = RequestFactory()
    assert holds_nul(rf.get("/x", {"a": ["ok", "b\x00"]}))
    assert holds_nul(rf.get("/x?%00=1"))
    assert holds_nul(rf.get("/x%00/"))
    assert not holds_nul(rf.get("/x", {"a": "ok"}, HTTP_COOKIE="c=d"))


# --- other admin parameters ----------------------------------------------------------------

OFF_CHOICE = [
    "status=bogus",
    "reason=bogus",
    "reason=__class__",
    "reason=",
    "install_type=x",
    "user_tokens=maybe",
    "rotation=2",
    "enterprise=" + "E" * 5000,
    "enterprise=%FF%FE",
    "status=%E2%80%AE",
    "q=" + "x" * 5000,
    "o=99",
    "o=x",
    "p=x",
    "p=99999999999999999999",
]


@pytest.mark.parametrize("query", OFF_CHOICE)
def test_filter_values_off_the_choices_do_not_500(
    viewer: Client, audit_workspace: Callable, query: str
) -> None:
    audit_workspace(enterprise_id="E0GRID")
    assert viewer.get(f"{CHANGELIST}?{query}", secure=True).status_code in (200, 302)


def listed(viewer: Client, query: str) -> set[str]:
    response = viewer.get(f"{CHANGELIST}?{query}", secure=True)
    assert response.status_code == 200
    return {str(row.pk) for row in response.context["cl"].result_list}


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus",
        "reason=bogus",
        "install_type=x",
        "user_tokens=maybe",
        "rotation=2",
        "enterprise=E0GRID%0A",
        "enterprise=e0grid",
        "enterprise=" + "E" * 40,
    ],
)
def test_a_value_off_the_choices_leaves_the_list_unfiltered(
    viewer: Client, audit_workspace: Callable, query: str
) -> None:
    everyone = {str(audit_workspace().pk), str(audit_workspace(enterprise_id="E0GRID").pk)}
    assert listed(viewer, query) == everyone


def test_the_enterprise_filter_takes_any_well_formed_id(
    viewer: Client, audit_workspace: Callable
) -> None:
    plain = audit_workspace()
    grid = audit_workspace(enterprise_id="E0GRID")
    assert listed(viewer, "enterprise=E0GRID") == {str(grid.pk)}
    assert listed(viewer, "enterprise=E0NOSUCH") == set()
    assert listed(viewer, "enterprise=none") == {str(plain.pk)}


@pytest.mark.parametrize(
    "query", ["team_id__regex=(", "team_id__iregex=[", "installed_at__year=99999999999"]
)
def test_lookups_nobody_offered_are_refused(
    viewer: Client, audit_workspace: Callable, query: str
) -> None:
    audit_workspace()
    client = Client(raise_request_exception=False)
    client.cookies = viewer.cookies
    assert client.get(f"{CHANGELIST}?{query}", secure=True).status_code == 400


def test_an_escaped_nul_in_a_quoted_cookie_is_found() -> None:
    assert holds_nul(RequestFactory().get("/slack/install", HTTP_COOKIE='c="a\\000b"'))


def test_values_a_middleware_before_ours_parsed_and_changed_are_walked() -> None:
    changed = RequestFactory().get("/slack/installed?i=abc")
    values = changed.GET.copy()
    values["i"] = "a\x00b"
    changed.__dict__["GET"] = values
    assert holds_nul(changed)
