"""Seed the v1 schema once (provisioning): the API user, 3,000 members with a profile and a
legacy profile (phone + time zone, which v2 copies into the profile), and 100 jobs."""
import os

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from jobs.models import Job
from people.models import LegacyProfile, Profile

MEMBERS = 3000
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC", "Australia/Sydney"]


class Command(BaseCommand):
    help = "Seed the v1 database (refuses when users exist)."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        password = os.environ.get("SEED_API_PASSWORD")
        if not password:
            raise CommandError("SEED_API_PASSWORD is not set; export it (the API user's password)")
        if User.objects.exists():
            raise CommandError("users exist already; seed runs once on an empty v1 database")
        api = User.objects.create_user("api", "api@example.test", password, is_staff=True)
        hashed = make_password(os.environ.get("SEED_MEMBER_PASSWORD", "ledger-seed-password"))
        users = User.objects.bulk_create(
            User(username=f"member{i:04d}", email=f"member{i:04d}@example.test", password=hashed)
            for i in range(1, MEMBERS + 1))
        everyone = [api, *users]
        Profile.objects.bulk_create(Profile(user=u, display_name=u.username) for u in everyone)
        LegacyProfile.objects.bulk_create(
            LegacyProfile(user=u, phone=f"+49 30 {n:07d}", timezone=ZONES[n % len(ZONES)])
            for n, u in enumerate(everyone))
        Job.objects.bulk_create(Job(name=f"import-{n}", status="done") for n in range(100))
        self.stdout.write(f"seeded {len(everyone)} users, profiles, legacy profiles, 100 jobs")
