"""WSGI entry point (gunicorn slackinstall.wsgi).

A broken configuration stops the import with every problem listed (slackinstall/startup.py),
so no server ever serves with placeholder settings.
"""

import os

from django.core.wsgi import get_wsgi_application

from slackinstall.startup import raise_if_misconfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slackinstall.settings")

raise_if_misconfigured()
application = get_wsgi_application()
