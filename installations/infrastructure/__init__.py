"""How the app uses the services it shares with other processes: the database and the cache.

Owns the per-session database settings applied after every connect (``database``) and every
cache use of the app (``shared_cache``: versioned keys, a write generation, a cache that may
fail). Imports only Django and ``installations.__version__``; every other package may import it.
"""
