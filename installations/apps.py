from django.apps import AppConfig


class InstallationsConfig(AppConfig):
    name = "installations"
    verbose_name = "Slack installations"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
