"""Template tags of the app: the branding every page of the app (and the site's error pages) shows.

May import: ``installations.conf`` only. Reads settings, never the database or a request.
"""
