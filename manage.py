#!/usr/bin/env python
"""Django's command-line utility for slackinstall.

Before running a command: refuse to run on a broken configuration, listing every problem
(slackinstall/startup.py; slack_init, slack_keygen and help need no configuration), and, in
development without a Slack app, make sure the local Slack stand-in answers for the commands that
call Slack (installations/dev_standin.py). A database that cannot be reached or used (down, a
wrong DATABASE_URL, not migrated) is one ``database error:`` line and status 1, as Django gives a
CommandError (``--traceback`` shows the traceback).
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slackinstall.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db import OperationalError

    from slackinstall import startup

    try:
        if startup.needs_configuration(sys.argv):
            startup.exit_if_misconfigured()
            from django.conf import settings

            if not getattr(settings, "SLACK_USES_STANDIN", False):  # production: no dev tool
                execute_from_command_line(sys.argv)
                return
            from slackstandin.dev_standin import StandInUnavailable, standin_for_command

            try:
                with standin_for_command(sys.argv):
                    execute_from_command_line(sys.argv)
            except StandInUnavailable as exc:
                print(f"local Slack stand-in: {exc}", file=sys.stderr)
                sys.exit(1)
        else:
            execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A configuration mistake gets one clear line, not a traceback.
        print(f"configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OperationalError as exc:
        if "--traceback" in sys.argv:
            raise
        said = str(exc).strip().splitlines()
        print(f"database error: {said[0] if said else type(exc).__name__}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
