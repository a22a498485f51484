"""What the app tells operators: log redaction, the JSON log format, safe error reports.
May import: Django, the standard library and prometheus_client only."""
