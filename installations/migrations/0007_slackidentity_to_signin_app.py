"""SlackIdentity leaves this app's state for the ``installations.signin`` app's.

State only: the table (``installations_slackidentity``) and its rows stay. With the sign-in app
listed, its 0001 adopts them; without it, a database that had the table keeps it untouched.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("installations", "0006_installation_installed_by")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="SlackIdentity")]
        )
    ]
