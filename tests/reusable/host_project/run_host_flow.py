"""Runs inside the fresh venv (the wheel installed, the repo not on the path): the host's story.

Starts the stand-in (from the repo's slackstandin, put on PYTHONPATH alone by the test), sets up
the host project, runs migrate, makemigrations --check and check, then one install by a
logged-in user through the app mounted at /integrations/. Prints one JSON object of findings.
"""

import importlib
import json
import os
import re
import sys
from html import unescape
from io import StringIO
from urllib.parse import parse_qs, urlsplit

from slackstandin import SlackStandIn

standin = SlackStandIn(
    client_id=os.environ["HOST_SLACK_CLIENT_ID"],
    client_secret=os.environ["HOST_SLACK_CLIENT_SECRET"],
).start()
os.environ["HOST_SLACK_API_URL"] = standin.api_url
os.environ["HOST_SLACK_AUTHORIZE_URL"] = standin.authorize_url
os.environ["DJANGO_SETTINGS_MODULE"] = "hostsite.settings"

import django  # noqa: E402

django.setup()

from django.apps import apps  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from hostsite import hooks  # noqa: E402

import installations  # noqa: E402
from installations.models import Installation, Workspace  # noqa: E402
from installations.signals import installation_completed  # noqa: E402

found: dict[str, object] = {"installations_file": installations.__file__}
found["version"] = installations.__version__
call_command("migrate", verbosity=0)
# The host lists no installations.signin, but code of its may still be imported (a URLconf that
# includes its URLs, a template tag): that must not add a model to the installations app.
importlib.import_module("installations.signin.models")
out = StringIO()
try:
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    found["makemigrations_check"] = "clean"
except SystemExit as exc:
    found["makemigrations_check"] = f"changes ({exc.code}): {out.getvalue()}"
try:
    call_command("check", "--fail-level", "ERROR", stdout=StringIO())
    found["check"] = "ok"
except Exception as exc:  # SystemCheckError: what it says matters
    found["check"] = str(exc)
# The host lists no installations.signin: no sign-in app, no sign-in table.
found["signin_app"] = apps.is_installed("installations.signin")
found["signin_table"] = "installations_slackidentity" in connection.introspection.table_names()

installation_completed.connect(hooks.on_completed)
user = get_user_model().objects.create_user("host-admin", password="not-used-" + "x" * 12)
browser = Client()
browser.force_login(user)
page = browser.get("/integrations/slack/install", {"next": "/dashboard/"}, secure=True)
found["install_page_status"] = page.status_code
html = page.content.decode()
found["host_base_template"] = 'id="host-site-header"' in html
href = unescape(re.search(r'<a class="add-to-slack" href="([^"]+)"', html).group(1))
found["redirect_uri_sent"] = parse_qs(urlsplit(href).query)["redirect_uri"][0]
back = urlsplit(standin.approve(href))
answer = browser.get(back.path + "?" + back.query, secure=True)
found["callback_status"] = answer.status_code
found["callback_location"] = answer.get("Location")
workspace = Workspace.objects.get()
row = Installation.objects.get()
found["installed_by"] = row.installed_by_id == user.pk
found["custom_values"] = row.custom_values
found["signal"] = hooks.received
issued = standin.issued[-1]["access_token"]
with connection.cursor() as cursor:
    cursor.execute("SELECT bot_token FROM installations_workspace")
    stored = cursor.fetchone()[0]
found["token_encrypted"] = bool(stored) and issued not in stored and stored != issued
found["token_decrypts"] = workspace.bot_token == issued
found["success_page_prefix"] = browser.get("/integrations/slack/installed", secure=True).status_code
standin.stop()
json.dump(found, sys.stdout)
