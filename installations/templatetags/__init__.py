"""Template tags of the app: the branding every page of the app (and the site's error pages) shows.
Reads settings through ``installations.conf`` only, never the database or a request."""
