"""What the app tells operators: log redaction, the JSON log format, safe error reports.

Owns: the redaction filter on every log handler (``redaction``), the JSON-lines formatter
(``log_format``) and the exception reporter filter that cleanses secrets in debug too
(``error_reporting``).

Also the Prometheus counters and histograms the app reports (``metrics``, prometheus_client's).

May import: Django, the standard library and prometheus_client only.
"""
