"""OAuthState now records spent states only: issued states are signed and stored nowhere.

Rows left from the old design are hashes of random states that no callback can present any more
(a state must now carry our signature); they keep their expiry and are purged with the rest.
"""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("installations", "0003_refresh_lease"),
    ]

    operations = [
        migrations.RenameField(
            model_name="oauthstate",
            old_name="created_at",
            new_name="spent_at",
        ),
        migrations.AlterField(
            model_name="oauthstate",
            name="spent_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.RemoveField(
            model_name="oauthstate",
            name="team_hint",
        ),
    ]
