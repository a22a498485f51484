"""slackinstall's reusable Django app: install one Slack app into many workspaces.

The version lives here only (pyproject.toml reads it; CHANGELOG.md says what changed).
"""

__version__ = "0.2.0"
