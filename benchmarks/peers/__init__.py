"""The peer the benchmarks compare against: what a developer would write with Bolt alone.

``bolt_peer`` is a Bolt for Python app served through ``slack_bolt.adapter.django``, wired as
Bolt's own Django OAuth example wires it (bolt-python, examples/django/oauth_app), with
slack_sdk's ``SQLAlchemyInstallationStore`` and ``SQLAlchemyOAuthStateStore`` for its tables.
It runs under the project's own ``gunicorn.conf.py`` (same workers, threads, logging) against
the same database and the same Slack stand-in as slackinstall. ``listeners`` holds the one event
listener both contestants register, so an event costs each the same work in the listener.

Benchmark code only: nothing in ``installations/`` or ``slackinstall/`` imports this package.
"""
