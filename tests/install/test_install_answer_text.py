"""Text in Slack's install answer that no database can hold (a NUL, a lone surrogate) is an
unexpected answer (502), never a storage error (500): checked before it is kept, and what the
answer issued is revoked."""

from __future__ import annotations

import pytest
from django.test import Client

from installations.models import Installation, Workspace
from slackstandin import SlackStandIn
from tests.support.flow import Flow
from tests.support.standin import live_and_unkept

pytestmark = pytest.mark.django_db

TEXT_FIELDS = ["team.name", "enterprise.name", "incoming_webhook.channel", "incoming_webhook.url"]


@pytest.mark.parametrize("value", ["Team \ud800", "Team \x00"])
@pytest.mark.parametrize("path", TEXT_FIELDS)
def test_text_no_database_can_hold_is_refused_and_the_tokens_revoked(
    standin: SlackStandIn, path: str, value: str
) -> None:
    standin.fail_next("oauth.v2.access", patch={path: value})
    response = Flow(standin, Client()).install(webhook=True, org_wide=path == "enterprise.name")
    assert response.status_code == 502, response.status_code
    assert b"unexpected_response" in response.content
    assert not Workspace.objects.exists() and not Installation.objects.exists()
    assert live_and_unkept(standin, set()) == []
