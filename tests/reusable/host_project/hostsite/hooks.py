"""The host's hooks: custom values for each install, and a receiver of installation_completed."""

from typing import Any

from django.http import HttpRequest

received: list[dict[str, Any]] = []


def custom_values(request: HttpRequest) -> dict[str, Any]:
    return {"account": f"acct-{request.user.pk}"}


def on_completed(sender: Any, workspace: Any, installation: Any, request: Any, **kw: Any) -> None:
    received.append(
        {
            "team_id": workspace.team_id,
            "installation": str(installation.pk),
            "user": request.user.pk,
        }
    )
