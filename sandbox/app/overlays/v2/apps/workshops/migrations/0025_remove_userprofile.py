# Profile consolidation, step 2: drop the legacy workshops.UserProfile once
# accounts.0014 has copied everything into accounts.UserProfile.
from django.db import migrations


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
        migrations.DeleteModel(
            name="UserProfile",
        ),
    ]
