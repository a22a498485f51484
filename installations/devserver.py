"""`make run`: the development server on http://127.0.0.1:8000 (DJANGO_DEBUG on only)."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slackinstall.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line([sys.argv[0], "runserver", "127.0.0.1:8000"])


if __name__ == "__main__":
    main()
