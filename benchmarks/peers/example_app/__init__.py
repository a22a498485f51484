"""The Django-model stores of bolt-python's ``examples/django/oauth_app``, for the Bolt peer.

``PEER_STORES=django`` runs the peer as that example wires it: these models and stores (copied
from bolt-python, MIT licence, Copyright (c) 2020- Slack Technologies, LLC; only type hints and
the app label added) and the example's middleware, on the benchmark database. It shows what
Bolt's own flow costs when its installs go through Django's ORM, as ours do; the headline peer
keeps slack_sdk's SQLAlchemy stores (benchmarks/README.md).
"""
