"""SlackIdentity in the sign-in app, on the table it had in the ``installations`` app.

The model enters this app's state as it left ``installations``' (0007 there), with the same
``db_table``. The table is created only where it is missing: a database whose ``installations``
0005 created it keeps it and every identity in it. Unapplying drops the table.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

TABLE = "installations_slackidentity"
HOME_HELP = "enterprise_id in Enterprise Grid, else team_id: the key's scope"
STAFF_HELP = "Staff status came from the SLACK_SIGNIN_STAFF_* settings"


def create_table_unless_present(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if TABLE not in schema_editor.connection.introspection.table_names():
        schema_editor.create_model(apps.get_model("slackinstall_signin", "SlackIdentity"))


def drop_table(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.delete_model(apps.get_model("slackinstall_signin", "SlackIdentity"))


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("installations", "0007_slackidentity_to_signin_app"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="SlackIdentity",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "home",
                            models.CharField(help_text=HOME_HELP, max_length=32),
                        ),
                        ("slack_user_id", models.CharField(max_length=32)),
                        ("team_id", models.CharField(max_length=32)),
                        ("enterprise_id", models.CharField(blank=True, default="", max_length=32)),
                        ("email", models.EmailField(blank=True, max_length=254)),
                        ("name", models.CharField(blank=True, max_length=255)),
                        ("team_name", models.CharField(blank=True, max_length=255)),
                        (
                            "granted_staff",
                            models.BooleanField(
                                default=False,
                                help_text=STAFF_HELP,
                            ),
                        ),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "last_signed_in_at",
                            models.DateTimeField(default=django.utils.timezone.now),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="slack_identities",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": TABLE,
                        "verbose_name": "Slack identity",
                        "verbose_name_plural": "Slack identities",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("home", "slack_user_id"), name="slack_identity_unique"
                            )
                        ],
                    },
                )
            ]
        ),
        migrations.RunPython(create_table_unless_present, drop_table),
    ]
