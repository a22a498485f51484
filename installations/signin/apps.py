"""Sign in with Slack as a Django app of its own: listed in INSTALLED_APPS, it brings its table.
The label ``slackinstall_signin`` avoids a clash with a host's own ``signin``."""

from django.apps import AppConfig


class SlackSigninConfig(AppConfig):
    name = "installations.signin"
    label = "slackinstall_signin"
    verbose_name = "Sign in with Slack"
    default_auto_field = "django.db.models.BigAutoField"
