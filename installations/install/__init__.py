"""The Add to Slack flow: start an install, bind it to the browser, finish it from the callback.

Owns: the authorize URL and the start of a flow (``flow``), the OAuth ``state`` (``state``) and the
browser-binding cookie (``cookie``), the callback's checks in order (``callback``), the success
link (``links``) and registering a single workspace's token by hand (``manual``).

May import: ``installations.slack``, ``installations.lifecycle.saving`` (to store a completed
install), ``installations.models``, ``installations.conf``, ``installations.exceptions``.
"""
