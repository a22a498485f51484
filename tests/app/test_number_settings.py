"""The app's whole-number settings in a host project (which sets them in Python, not through the
project's environment reader): a value that is no number in range is a system check error
(installations.E017) naming it, and the pages answer with the documented default meanwhile,
never a 500 on every install."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from installations import checks
from installations.conf import DEFAULTS, slack_config

NUMBER_SETTINGS = (
    "SLACK_STATE_TTL_SECONDS",
    "SLACK_HTTP_TIMEOUT_SECONDS",
    "SLACK_TOKEN_ROTATION_MINUTES",
)
WRONG = ["ten", "", -1, 0, 1.5, True, 10**12, [600]]


@pytest.mark.parametrize("name", NUMBER_SETTINGS)
@pytest.mark.parametrize("value", WRONG)
def test_a_number_setting_out_of_range_is_a_check_error_and_the_default_is_used(
    settings: Any, name: str, value: object
) -> None:
    setattr(settings, name, value)
    found = checks.check_number_settings()
    assert [(m.id, m.msg.split(" ")[0]) for m in found] == [("installations.E017", name)]
    field = {
        "SLACK_STATE_TTL_SECONDS": "state_ttl_seconds",
        "SLACK_HTTP_TIMEOUT_SECONDS": "http_timeout_seconds",
        "SLACK_TOKEN_ROTATION_MINUTES": "token_rotation_minutes",
    }[name]
    assert getattr(slack_config(), field) == DEFAULTS[name]


@pytest.mark.parametrize("name", NUMBER_SETTINGS)
def test_numbers_in_range_are_fine(settings: Any, name: str) -> None:
    for value in (1, 30, "45"):
        setattr(settings, name, value)
        assert checks.check_number_settings() == []


@pytest.mark.django_db
def test_the_install_page_answers_with_a_wrong_state_ttl(settings: Any, client: Client) -> None:
    settings.SLACK_STATE_TTL_SECONDS = "ten minutes"
    response = client.get("/slack/install", secure=True)
    assert response.status_code == 200
