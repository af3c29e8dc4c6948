"""A background worker (the runbook's `backend-workers`): logs a heartbeat with the user count."""
import logging
import signal
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

logger = logging.getLogger("apps.accounts.worker")


class Command(BaseCommand):
    help = "Run the background worker until SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=5.0)

    def handle(self, *args, interval, **options):
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        logger.info("worker started")
        while not stop:
            logger.info("worker heartbeat: %d users", get_user_model().objects.count())
            for _ in range(int(interval * 10)):
                if stop:
                    break
                time.sleep(0.1)
        logger.info("worker stopped")
