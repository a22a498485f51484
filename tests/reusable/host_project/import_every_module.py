"""Runs inside a clean venv: imports every module of the installed ``installations`` package
(Django set up with the host's settings first, as in a project) and prints, as JSON, "ok" or
the ImportError's message for each."""

import importlib
import json
import os
import pkgutil
import sys

os.environ["DJANGO_SETTINGS_MODULE"] = "hostsite.settings"

import django

django.setup()

import installations  # noqa: E402

found: dict[str, str] = {}
names = [info.name for info in pkgutil.walk_packages(installations.__path__, "installations.")]
for name in sorted(names):
    try:
        importlib.import_module(name)
        found[name] = "ok"
    except ImportError as exc:
        found[name] = f"{type(exc).__name__}: {exc}"
found["__file__"] = installations.__file__

# Calling the Bolt factory, and the system check of a host module that imports slack_bolt.
from django.conf import settings  # noqa: E402

from installations import checks  # noqa: E402
from installations.bolt.request_url import new_bolt_app  # noqa: E402

try:
    new_bolt_app()
    found["call new_bolt_app()"] = "ok"
except Exception as exc:
    found["call new_bolt_app()"] = f"{type(exc).__name__}: {exc}"
settings.SLACK_BOLT_APP = "hostsite.bolt_direct.app"
hints = [str(message.hint) for message in checks.check_dotted_paths()]
found["check of a module importing slack_bolt"] = " ".join(hints) or "ok"
json.dump(found, sys.stdout)
