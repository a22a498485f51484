"""How the app uses the services it shares with other processes: the database and the cache.
Imports only Django and ``installations.__version__``; every other package may import it."""
