"""The Add to Slack flow: start an install, bind it to the browser, finish it from the callback.

May import: ``installations.slack``, ``installations.lifecycle.saving`` (to store a completed
install), ``installations.models``, ``installations.conf``, ``installations.exceptions``,
``installations.infrastructure`` (the cache: the app id known for our client id).
"""
