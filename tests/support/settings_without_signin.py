"""Settings of a host that does not list Sign in with Slack (test_signin_optional.py)."""

from slackinstall.settings import *  # noqa: F403

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "installations.signin"]  # noqa: F405
SLACK_SIGNIN_ENABLED = False
ROOT_URLCONF = "tests.support.urls_without_signin"
