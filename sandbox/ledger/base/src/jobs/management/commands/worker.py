"""The background worker (shaped like django-q2's qcluster): polls jobs.Job and marks pending
jobs done. It holds a database connection and must be stopped around migrations."""
import signal
import time

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from jobs.models import Job


class Command(BaseCommand):
    help = "Poll the jobs table until SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")

    def handle(self, *args, interval, **options):
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
        self.stdout.write("worker: started")
        while not stop:
            with transaction.atomic():
                batch = list(Job.objects.select_for_update(skip_locked=True)
                             .filter(status="pending").order_by("id")[:50])
                for job in batch:
                    job.status, job.done_at = "done", timezone.now()
                    job.save(update_fields=["status", "done_at"])
            if batch:
                self.stdout.write(f"worker: {len(batch)} job(s) done")
            time.sleep(interval)
        self.stdout.write("worker: stopped")
