#!/usr/bin/env python
"""Django's command-line utility for slackinstall."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slackinstall.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        _ = settings.INSTALLED_APPS  # load settings now, so a bad variable stops us here
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A configuration mistake gets one clear line, not a traceback.
        print(f"configuration error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
