"""deploy/prometheus: the alert rules parse, fire when they should (promtool's own unit tests),
and name only metrics that ``/metrics`` really serves."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import installed_program

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus"


def promtool() -> str:
    return installed_program("promtool")  # Debian's prometheus package


@pytest.mark.parametrize(
    "command", [["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]]
)
def test_promtool_accepts_the_rules(command: list[str]) -> None:
    done = subprocess.run(
        [promtool(), *command], cwd=RULES, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.django_db
def test_every_metric_an_alert_names_is_served(
    client: Client, settings: Any, saved_workspace: Any
) -> None:
    from django.core.management import call_command

    saved_workspace()
    for job in ("slack_purge_states", "slack_purge_history"):
        call_command(job, stdout=open(os.devnull, "w"))
    settings.METRICS_TOKEN = "fake-metrics-" + secrets.token_hex(12)
    response = client.get(
        "/metrics", HTTP_AUTHORIZATION=f"Bearer {settings.METRICS_TOKEN}", secure=True
    )
    served = {family.name for family in text_string_to_metric_families(response.content.decode())}
    served |= {name + "_total" for name in served}  # the parser names counters without _total
    named = set(re.findall(r"\bslackinstall_[a-z_]+", (RULES / "alerts.yml").read_text()))
    assert named and named <= served, named - served
