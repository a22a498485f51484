"""What the app tells operators: log redaction, the JSON log format, safe error reports.

Owns: the redaction filter on every log handler (``redaction``), the JSON-lines formatter
(``log_format``) and the exception reporter filter that cleanses secrets in debug too
(``error_reporting``).

May import: Django and the standard library only.
"""
