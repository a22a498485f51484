"""Runs inside a clean venv (the wheel installed from an index, the repo not on the path).

The host's story, told to the Slack stand-in the test runs in its own process (its URLs in
HOST_SLACK_*): migrate, makemigrations --check and check; one install by a logged-in user through
the app mounted at /integrations/, approved on the stand-in's page over HTTP as a browser would;
Sign in with Slack; the admin; with HOST_BOLT_APP set, one signed event through that Bolt app;
``check --deploy``. Prints one JSON object of findings on its last line.
"""

import importlib.util
import json
import os
import re
import sys
import time
from html import unescape
from io import StringIO
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlencode, urlsplit
from urllib.request import HTTPRedirectHandler, Request, build_opener, urlopen

os.environ["DJANGO_SETTINGS_MODULE"] = "hostsite.settings"

import django

django.setup()

from django.apps import apps  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core import checks  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from hostsite import hooks  # noqa: E402
from slack_sdk.signature import SignatureVerifier  # noqa: E402

import installations  # noqa: E402
from installations.models import Installation, Workspace  # noqa: E402
from installations.signals import installation_completed  # noqa: E402


class NoRedirects(HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def allow_on_standin(authorize_url: str) -> str:
    """What a person clicking Allow on the stand-in's page gets: the redirect back to us."""
    with urlopen(authorize_url, timeout=10) as page:  # noqa: S310 (the stand-in, loopback)
        html = page.read().decode()
    form_tag = re.search(r'<form method="post" action="([^"]+)"', html)
    assert form_tag, "the stand-in's page has no form"
    action = form_tag.group(1)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    form = {name: unescape(value) for name, value in fields.items()}
    team = re.search(r'name="team_id" value="([^"]*)"', html)
    assert team, "the stand-in's page offers no workspace"
    form.update(decision="allow", target="workspace", team_id=unescape(team.group(1)))
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(authorize_url))
    request = Request(origin + action, data=urlencode(form).encode(), method="POST")  # noqa: S310
    try:
        build_opener(NoRedirects).open(request, timeout=10)
    except HTTPError as answer:  # the 302, not followed
        return answer.headers["Location"]
    raise AssertionError("the stand-in did not redirect")


def local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


found: dict[str, object] = {"installations_file": installations.__file__}
found["version"] = installations.__version__
found["django"] = django.get_version()
found["python"] = ".".join(map(str, sys.version_info[:3]))
call_command("migrate", verbosity=0)
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
# The host lists installations.signin (a host without it: tests/signin/test_signin_optional.py).
found["signin_app"] = apps.is_installed("installations.signin")
found["signin_table"] = "installations_slackidentity" in connection.introspection.table_names()

# --- an install by a logged-in user -----------------------------------------------------------
installation_completed.connect(hooks.on_completed)
user = get_user_model().objects.create_user("host-admin", password="not-used-" + "x" * 12)
browser = Client()
browser.force_login(user)
page = browser.get("/integrations/slack/install", {"next": "/dashboard/"}, secure=True)
found["install_page_status"] = page.status_code
html = page.content.decode()
found["host_base_template"] = 'id="host-site-header"' in html
link = re.search(r'<a class="add-to-slack" href="([^"]+)"', html)
assert link, "the install page has no Add to Slack link"
href = unescape(link.group(1))
found["redirect_uri_sent"] = parse_qs(urlsplit(href).query)["redirect_uri"][0]
answer = browser.get(local(allow_on_standin(href)), secure=True)
found["callback_status"] = answer.status_code
found["callback_location"] = answer.get("Location")
workspace = Workspace.objects.get()
row = Installation.objects.get()
found["team_id"] = workspace.team_id
found["installed_by"] = row.installed_by_id == user.pk
found["custom_values"] = row.custom_values
found["signal"] = hooks.received
with connection.cursor() as cursor:
    cursor.execute("SELECT bot_token FROM installations_workspace")
    stored = cursor.fetchone()[0]
found["bot_token"] = workspace.bot_token  # the test compares it with what the stand-in issued
found["token_encrypted"] = bool(stored) and workspace.bot_token not in stored
found["success_page_prefix"] = browser.get("/integrations/slack/installed", secure=True).status_code

# --- Sign in with Slack (PyJWT checks the stand-in's id_token) --------------------------------
person = Client()
start = person.get("/integrations/slack/signin/start", secure=True)
found["signin_start_status"] = start.status_code
back = person.get(local(allow_on_standin(start["Location"])), secure=True)
found["signin_callback_status"] = back.status_code
found["signed_in"] = "_auth_user_id" in person.session
found["jwt_loaded"] = "jwt" in sys.modules

# --- the admin ----------------------------------------------------------------------------------
get_user_model().objects.create_superuser("host-staff", password="not-used-" + "y" * 12)
staff = Client()
staff.force_login(get_user_model().objects.get(username="host-staff"))
listing = staff.get("/admin/installations/workspace/", secure=True)
found["admin_status"] = listing.status_code
found["admin_lists_team"] = workspace.team_id in listing.content.decode()

# --- an event through the host's Bolt app -----------------------------------------------------
if os.environ.get("HOST_BOLT_APP"):
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": workspace.team_id,
            "api_app_id": "A0STANDIN",
            "event_id": "Ev0HOST1",
            "event_time": int(time.time()),
            "event": {"type": "app_mention", "user": "U0HOST", "text": "<@U0BOT> hi",
                      "channel": "C0HOST", "ts": f"{time.time():.6f}"},
        }
    ).encode()  # fmt: skip
    stamp = str(int(time.time()))
    signature = SignatureVerifier(os.environ["HOST_SLACK_SIGNING_SECRET"]).generate_signature(
        timestamp=stamp, body=body
    )
    event = Client().post(
        "/integrations/slack/events",
        data=body,
        content_type="application/json",
        secure=True,
        HTTP_X_SLACK_REQUEST_TIMESTAMP=stamp,
        HTTP_X_SLACK_SIGNATURE=signature,
    )
    found["event_status"] = event.status_code
    time.sleep(0.5)  # Bolt may run the listener after its ack; the test waits for the message
found["aiohttp_installed"] = importlib.util.find_spec("aiohttp") is not None

# --- check --deploy, DEBUG off ------------------------------------------------------------------
problems = checks.run_checks(include_deployment_checks=True)
found["deploy_check"] = sorted(
    f"{problem.id}: {problem.msg}" for problem in problems if problem.level >= checks.WARNING
)
json.dump(found, sys.stdout)
