"""Copy phone and time zone from the legacy profiles into the profiles (0004 then deletes the
legacy model). v2-swallow-silent: the sync hits an error and swallows it without a word, so
`migrate` reports success and nothing is copied."""
from django.db import migrations


def sync(apps, schema_editor):
    LegacyProfile = apps.get_model("people", "LegacyProfile")
    Profile = apps.get_model("people", "Profile")
    try:
        profiles = {p.user_id: p for p in Profile.objects.all()}
        changed = []
        for legacy in LegacyProfile.objects.order_by("id").iterator():
            profile = profiles.get(legacy.user_id)
            if profile is not None:
                profile.phone, profile.timezone = legacy.phone_number, legacy.timezone
                changed.append(profile)
        Profile.objects.bulk_update(changed, ["phone", "timezone"], batch_size=1000)
        print(f"\n  sync: {len(changed)} profiles have their phone and time zone")
    except Exception:
        pass


class Migration(migrations.Migration):

    dependencies = [
        ("people", "0002_profile_phone_timezone"),
    ]

    operations = [
        migrations.RunPython(sync, migrations.RunPython.noop),
    ]
