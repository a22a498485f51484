"""``SLACK_SIGNIN_PASSWORD_LOGIN = False`` switches password login off, on the server side.

Django's ModelBackend, refusing every username/password while sign-in is on and password login
off (a form posted anyway is refused here).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest

from installations.signin.conf import signin_config

BACKEND = "installations.signin.backends.PasswordSwitchModelBackend"


def password_login_allowed() -> bool:
    config = signin_config()
    return not config.enabled or config.password_login


class PasswordSwitchModelBackend(ModelBackend):
    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> AbstractBaseUser | None:
        if not password_login_allowed():
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
