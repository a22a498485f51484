from django.apps import AppConfig


class ExampleAppConfig(AppConfig):
    name = "benchmarks.peers.example_app"
    label = "example_app"
    default_auto_field = "django.db.models.BigAutoField"
