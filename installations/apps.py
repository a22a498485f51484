from django.apps import AppConfig


class InstallationsConfig(AppConfig):
    name = "installations"
    verbose_name = "Slack installations"
    # The migrations create BigAutoField ids: a host whose DEFAULT_AUTO_FIELD is AutoField must
    # not get a new migration for this app.
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from installations import checks  # noqa: F401  (registers the system checks)
        from installations.infrastructure.database import turn_off_jit
        from installations.signals import connect_model_signals

        connection_created.connect(turn_off_jit, dispatch_uid="installations.turn_off_jit")
        connect_model_signals()
