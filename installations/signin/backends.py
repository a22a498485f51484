"""``SLACK_SIGNIN_PASSWORD_LOGIN = False`` switches password login off, on the server side:
Django's ModelBackend, refusing every username/password while sign-in is on."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest

from installations.signin.conf import signin_config

BACKEND = "installations.signin.backends.PasswordSwitchModelBackend"


class PasswordSwitchModelBackend(ModelBackend):
    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> AbstractBaseUser | None:
        config = signin_config()
        if config.enabled and not config.password_login:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
