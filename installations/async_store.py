"""Public import path of the async Bolt stores (README)."""

from installations.bolt.async_store import *  # noqa: F403
from installations.bolt.async_store import (  # noqa: F401
    AsyncDjangoInstallationStore,
    AsyncDjangoOAuthStateStore,
)
