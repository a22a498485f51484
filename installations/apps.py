from django.apps import AppConfig


class InstallationsConfig(AppConfig):
    name = "installations"
    verbose_name = "Slack installations"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from installations import checks  # noqa: F401  (registers the system checks)
        from installations.db_session import turn_off_jit

        connection_created.connect(turn_off_jit, dispatch_uid="installations.turn_off_jit")
