# Migrations 0002-0012 were squashed away long ago; 0013 follows 0001 directly.
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="userprofile",
            name="slack_id",
            field=models.CharField(blank=True, max_length=64),
        ),
    ]
