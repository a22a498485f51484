"""An example Slack app built with Bolt for Python, served through slackinstall's one Request URL.

Not part of the installable app: it shows a developer's own listeners running on installs made
by the ``installations`` app (set ``SLACK_BOLT_APP = "example_app.slack_app.build_app"``).
"""
