"""Sign in with Slack: SlackIdentity, in this app's state only.

The model now belongs to the ``installations.signin`` app, which creates the table when a host
lists it (signin/migrations/0001_initial.py); 0007 takes it out of this app's state. A database
that ran this migration when it still created the table keeps that table and its rows: the
sign-in app adopts it under the same name.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("installations", "0004_spent_oauth_state"),
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
                            models.CharField(
                                help_text="enterprise_id in Enterprise Grid, else team_id: the key's scope",
                                max_length=32,
                            ),
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
                                help_text="Staff status came from the SLACK_SIGNIN_STAFF_* settings",
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
                        "verbose_name": "Slack identity",
                        "verbose_name_plural": "Slack identities",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("home", "slack_user_id"), name="slack_identity_unique"
                            )
                        ],
                    },
                ),
            ],
        ),
    ]
