"""WSGI entry point (gunicorn slackinstall.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slackinstall.settings")
application = get_wsgi_application()
