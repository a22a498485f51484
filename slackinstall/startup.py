"""Refusing to start on a broken configuration, with every problem in one message.

settings.py collects problems (CONFIGURATION_PROBLEMS) instead of raising, so one run shows them
all and the commands that need no configuration keep working: ``slack_init`` (writes a .env),
``slack_keygen`` (makes the key production needs first), ``help``, ``--help`` and ``--version``
of every command. Everything else stops here: manage.py and gunicorn.conf.py exit with status 2,
wsgi.py and asgi.py raise ImproperlyConfigured for other servers, each with one
``configuration error: ...`` line per problem.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from django.core.exceptions import ImproperlyConfigured

CONFIGURATION_FREE_COMMANDS = frozenset({"slack_init", "slack_keygen", "help", "version"})
HELP_FLAGS = frozenset({"--help", "-h", "--version"})
ADVICE = (
    "Set these in the environment or in .env beside manage.py (.env.example lists every "
    "variable; `python manage.py slack_init` writes a .env with generated keys)."
)


def needs_configuration(argv: Sequence[str]) -> bool:
    """False for manage.py invocations that only print help or generate keys."""
    if len(argv) < 2:
        return False  # bare `manage.py` prints the command list
    if argv[1] in CONFIGURATION_FREE_COMMANDS or argv[1] in HELP_FLAGS:
        return False
    return not any(arg in HELP_FLAGS for arg in argv[2:])


def configuration_problems() -> list[str]:
    """What settings.py could not read, then what the app's keyring check finds in the keys.

    The keys are checked in one place, the app's system check (``check_keyring``: needs only
    the settings, no app registry), so a malformed key is listed here once, with the rest, and
    never again by ``manage.py check``.
    """
    from django.conf import settings

    from installations.checks import check_keyring

    problems = list(getattr(settings, "CONFIGURATION_PROBLEMS", []))
    return problems + [str(message.msg) for message in check_keyring()]


def problem_report(problems: Sequence[str]) -> str:
    lines = [f"configuration error: {problem}" for problem in problems]
    return "\n".join([*lines, ADVICE])


def exit_if_misconfigured() -> None:
    """Print every problem to stderr and exit with status 2 (manage.py, gunicorn's master)."""
    problems = configuration_problems()
    if problems:
        print(problem_report(problems), file=sys.stderr, flush=True)
        raise SystemExit(2)


def raise_if_misconfigured() -> None:
    """For WSGI/ASGI servers: an import error they report, never a half-configured app.

    An exception rather than an exit: gunicorn treats a worker that raises while loading the
    app as a boot failure and stops, where a worker exiting with status 2 would be restarted.
    """
    problems = configuration_problems()
    if problems:
        raise ImproperlyConfigured("\n" + problem_report(problems))
