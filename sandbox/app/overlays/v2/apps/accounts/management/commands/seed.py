"""The seed command only supports the v1 schema (it writes workshops.UserProfile,
which v2 removes).  Seed on v1, then deploy v2 and migrate."""
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Seed data (v1 schema only; not available in this version)."

    def add_arguments(self, parser):
        parser.add_argument("--size", default="default")
        parser.add_argument("--force", action="store_true")

    def handle(self, *args, **options):
        raise CommandError(
            "seed only works on the v1 schema (workshops.UserProfile was removed in v2): "
            "check out v1, migrate and seed there, then deploy v2"
        )
