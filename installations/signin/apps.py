"""Sign in with Slack as a Django app of its own: a host lists ``installations.signin`` in
INSTALLED_APPS to get its table (``SlackIdentity``), and leaves it out to get none.

The label is ``slackinstall_signin`` (a plain ``signin`` could clash with a host's own app). The
table keeps the name it had when the model belonged to the ``installations`` app, so databases
that had it keep their identities (migrations/0001_initial.py).
"""

from django.apps import AppConfig


class SlackSigninConfig(AppConfig):
    name = "installations.signin"
    label = "slackinstall_signin"
    verbose_name = "Sign in with Slack"
    default_auto_field = "django.db.models.BigAutoField"
