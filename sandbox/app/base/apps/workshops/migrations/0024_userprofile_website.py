# Migrations 0002-0023 were squashed away long ago; 0024 follows 0001 directly.
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("workshops", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="userprofile",
            name="website",
            field=models.URLField(blank=True),
        ),
    ]
