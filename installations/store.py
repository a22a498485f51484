"""Public import path of the Bolt stores (README): ``from installations.store import ...``."""

from installations.bolt.store import *  # noqa: F403
from installations.bolt.store import DjangoInstallationStore, DjangoOAuthStateStore  # noqa: F401
