"""bolt-python's examples/django/oauth_app/slack_datastores.py: the parts an install runs.

``DjangoInstallationStore.save`` and ``save_bot`` and ``DjangoOAuthStateStore`` as published
(type hints added); the example's ``find_bot`` and ``find_installation`` are left out, since
this peer only serves the install benchmark.
"""

from __future__ import annotations

from datetime import timedelta
from logging import Logger
from uuid import uuid4

from django.utils import timezone
from django.utils.timezone import is_naive, make_aware
from slack_sdk.oauth import InstallationStore, OAuthStateStore
from slack_sdk.oauth.installation_store import Bot, Installation

from benchmarks.peers.example_app.models import SlackBot, SlackInstallation, SlackOAuthState


class DjangoInstallationStore(InstallationStore):
    def __init__(self, client_id: str, logger: Logger) -> None:
        self.client_id = client_id
        self._logger = logger

    @property
    def logger(self) -> Logger:
        return self._logger

    def save(self, installation: Installation) -> None:
        i = installation.to_dict()
        if is_naive(i["installed_at"]):
            i["installed_at"] = make_aware(i["installed_at"])
        if i.get("bot_token_expires_at") is not None and is_naive(i["bot_token_expires_at"]):
            i["bot_token_expires_at"] = make_aware(i["bot_token_expires_at"])
        if i.get("user_token_expires_at") is not None and is_naive(i["user_token_expires_at"]):
            i["user_token_expires_at"] = make_aware(i["user_token_expires_at"])
        i["client_id"] = self.client_id
        row_to_update = (
            SlackInstallation.objects.filter(client_id=self.client_id)
            .filter(enterprise_id=installation.enterprise_id)
            .filter(team_id=installation.team_id)
            .filter(installed_at=i["installed_at"])
            .first()
        )
        if row_to_update is not None:
            for key, value in i.items():
                setattr(row_to_update, key, value)
            row_to_update.save()
        else:
            SlackInstallation(**i).save()
        self.save_bot(installation.to_bot())

    def save_bot(self, bot: Bot) -> None:
        b = bot.to_dict()
        if is_naive(b["installed_at"]):
            b["installed_at"] = make_aware(b["installed_at"])
        if b.get("bot_token_expires_at") is not None and is_naive(b["bot_token_expires_at"]):
            b["bot_token_expires_at"] = make_aware(b["bot_token_expires_at"])
        b["client_id"] = self.client_id
        row_to_update = (
            SlackBot.objects.filter(client_id=self.client_id)
            .filter(enterprise_id=bot.enterprise_id)
            .filter(team_id=bot.team_id)
            .filter(installed_at=b["installed_at"])
            .first()
        )
        if row_to_update is not None:
            for key, value in b.items():
                setattr(row_to_update, key, value)
            row_to_update.save()
        else:
            SlackBot(**b).save()


class DjangoOAuthStateStore(OAuthStateStore):
    def __init__(self, expiration_seconds: int, logger: Logger) -> None:
        self.expiration_seconds = expiration_seconds
        self._logger = logger

    @property
    def logger(self) -> Logger:
        return self._logger

    def issue(self, *args: object, **kwargs: object) -> str:
        state: str = str(uuid4())
        expire_at = timezone.now() + timedelta(seconds=self.expiration_seconds)
        row = SlackOAuthState(state=state, expire_at=expire_at)
        row.save()
        return state

    def consume(self, state: str) -> bool:
        rows = SlackOAuthState.objects.filter(state=state).filter(expire_at__gte=timezone.now())
        if len(rows) > 0:
            for row in rows:
                row.delete()
            return True
        return False
