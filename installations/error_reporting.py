"""The exception reporter filter: Django's, but cleansing secrets with DJANGO_DEBUG on too.

(Being completed for issue 11, class 3.)
"""

from __future__ import annotations

from django.views.debug import SafeExceptionReporterFilter


class DebugSafeExceptionFilter(SafeExceptionReporterFilter):
    """Placeholder: behaviour filled in by the debug-page work."""
