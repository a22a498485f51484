"""From a verified Slack user to a Django user: allowed workspaces, creation, linking, staff.

Linking is by Slack's ids only, never by email (docs/security.md). A first sign-in creates a
user with an unusable password. Staff through Slack is decided again at every sign-in; only
staff status granted here is ever taken away.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group, User
from django.db import IntegrityError, transaction
from django.utils import timezone

from installations.signin.conf import SigninConfig, signin_config
from installations.signin.errors import (
    AccountDisabled,
    IdentityLinkedElsewhere,
    LinkNotConfirmed,
    TeamNotAllowed,
)
from installations.signin.id_token import SlackUser
from installations.signin.models import SlackIdentity

logger = logging.getLogger(__name__)


def check_allowed(slack_user: SlackUser, config: SigninConfig | None = None) -> None:
    config = config or signin_config()
    if not config.allowed_teams:
        return
    ids = {slack_user.team_id, slack_user.enterprise_id} - {""}
    if not ids & set(config.allowed_teams):
        raise TeamNotAllowed()


def is_staff_by_settings(slack_user: SlackUser, config: SigninConfig | None = None) -> bool:
    """In a staff team or org and, when user ids or an email domain are named, matching one."""
    config = config or signin_config()
    if not config.staff_mapping_on:
        return False
    ids = {slack_user.team_id, slack_user.enterprise_id} - {""}
    if not ids & set(config.staff_teams):
        return False
    if not config.staff_users and not config.staff_email_domain:
        return True
    if slack_user.user_id in config.staff_users:
        return True
    domain = slack_user.email.rsplit("@", 1)[-1].lower() if "@" in slack_user.email else ""
    wanted = config.staff_email_domain
    return bool(wanted) and slack_user.email_verified and domain == wanted


def username_for(slack_user: SlackUser) -> str:
    return f"slack-{slack_user.home}-{slack_user.user_id}".lower()


def _new_user(slack_user: SlackUser) -> User:
    user_model = get_user_model()
    base = username_for(slack_user)
    for attempt in range(10):
        username = base if attempt == 0 else f"{base}-{attempt + 1}"
        if not user_model._default_manager.filter(username=username).exists():
            break
    fields: dict[str, str] = {"username": username}
    if slack_user.email_verified and slack_user.email:
        fields["email"] = slack_user.email
    names = {"first_name": slack_user.given_name, "last_name": slack_user.family_name}
    for field, value in names.items():
        if value and hasattr(user_model, field):
            fields[field] = value[:150]
    user = user_model(**fields)
    user.set_unusable_password()
    user.save()
    return user


def _find(slack_user: SlackUser) -> SlackIdentity | None:
    identities = SlackIdentity.objects.select_for_update().select_related("user")
    return identities.filter(home=slack_user.home, slack_user_id=slack_user.user_id).first()


def needs_link_confirmation(slack_user: SlackUser, current: User | AnonymousUser | None) -> bool:
    """Whether signing in would link this Slack identity to the signed-in ``current`` user (it
    is linked to nobody yet): that waits for their confirmation (``linking``)."""
    if current is None or not current.is_authenticated:
        return False
    return not SlackIdentity.objects.filter(
        home=slack_user.home, slack_user_id=slack_user.user_id
    ).exists()


def user_for(
    slack_user: SlackUser,
    current: User | AnonymousUser | None = None,
    *,
    link_confirmed: bool = False,
) -> User:
    """The Django user this Slack user signs in as (created or linked as the module says);
    linking to the signed-in ``current`` user needs ``link_confirmed`` (LinkNotConfirmed)."""
    config = signin_config()
    check_allowed(slack_user, config)
    try:
        return _user_for(slack_user, current, config, link_confirmed)
    except IntegrityError:  # a concurrent first sign-in of the same identity won: use its row
        return _user_for(slack_user, current, config, link_confirmed)


@transaction.atomic
def _user_for(
    slack_user: SlackUser,
    current: User | AnonymousUser | None,
    config: SigninConfig,
    link_confirmed: bool,
) -> User:
    signed_in = current is not None and current.is_authenticated
    identity = _find(slack_user)
    if signed_in and isinstance(current, User):
        if identity is not None and identity.user_id != current.pk:
            raise IdentityLinkedElsewhere()
        if identity is None and not link_confirmed:
            raise LinkNotConfirmed()
        user = current
    elif identity is not None:
        user = identity.user
    else:
        user = _new_user(slack_user)
    if not user.is_active:
        raise AccountDisabled()
    now = timezone.now()
    if identity is None:
        with transaction.atomic():
            identity = SlackIdentity.objects.create(
                user=user, home=slack_user.home, slack_user_id=slack_user.user_id, team_id=""
            )
        logger.info("slack identity linked user=%s home=%s", user.pk, slack_user.home)
    identity.team_id = slack_user.team_id
    identity.enterprise_id = slack_user.enterprise_id
    identity.email = slack_user.email if slack_user.email_verified else ""
    identity.name = slack_user.name
    identity.team_name = slack_user.team_name
    identity.last_signed_in_at = now
    _apply_staff(user, identity, is_staff_by_settings(slack_user, config), config)
    identity.save()
    return user


def _apply_staff(user: User, identity: SlackIdentity, staff: bool, config: SigninConfig) -> None:
    group = Group.objects.get_or_create(name=config.staff_group)[0] if config.staff_group else None
    if staff:
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
            identity.granted_staff = True
            logger.info("staff granted through slack user=%s", user.pk)
        elif not identity.granted_staff:
            # Already staff: ours only when another of their identities granted it, so that
            # staff made by hand is never marked as ours (and never taken away by us).
            identity.granted_staff = _granted_by_another(user, identity)
        if group is not None:
            user.groups.add(group)
        return
    if not identity.granted_staff:
        return  # staff made by hand (or never staff): not ours to take away
    identity.granted_staff = False
    if _granted_by_another(user, identity):
        return  # another of this person's Slack identities still grants it
    if group is not None:
        user.groups.remove(group)
    if user.is_staff and not user.is_superuser:
        user.is_staff = False
        user.save(update_fields=["is_staff"])
        logger.info("staff removed through slack user=%s", user.pk)


def _granted_by_another(user: User, identity: SlackIdentity) -> bool:
    others = SlackIdentity.objects.filter(user=user, granted_staff=True).exclude(pk=identity.pk)
    return others.exists()
