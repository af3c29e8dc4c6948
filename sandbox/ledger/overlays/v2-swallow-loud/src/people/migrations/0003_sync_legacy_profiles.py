"""Copy phone and time zone from the legacy profiles into the profiles (0004 then deletes the
legacy model). Written like many real data migrations: any error is printed and swallowed, so
`migrate` reports success whatever happened."""
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
    except Exception as e:
        print(f"\n!!! Error during sync: {e} ... continuing")


class Migration(migrations.Migration):

    dependencies = [
        ("people", "0002_profile_phone_timezone"),
    ]

    operations = [
        migrations.RunPython(sync, migrations.RunPython.noop),
    ]
