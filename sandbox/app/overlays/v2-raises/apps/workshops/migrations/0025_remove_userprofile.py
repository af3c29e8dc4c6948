# Profile consolidation, step 2: drop the legacy workshops.UserProfile once
# accounts.0014 has copied everything into accounts.UserProfile.
from django.db import migrations


def simulated_failure(apps, schema_editor):
    raise RuntimeError("simulated failure in workshops.0025")


class Migration(migrations.Migration):

    dependencies = [
        ("workshops", "0024_userprofile_website"),
        ("accounts", "0014_final_sync_before_deletion"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="userprofile",
            name="website",
        ),
        migrations.RunPython(simulated_failure, migrations.RunPython.noop),
        migrations.DeleteModel(
            name="UserProfile",
        ),
    ]
