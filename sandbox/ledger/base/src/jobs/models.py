from django.db import models


class Job(models.Model):
    """A background job; the `worker` command (like django-q2's qcluster) polls this table."""

    name = models.CharField(max_length=100)
    status = models.CharField(max_length=16, default="pending", db_index=True)
    created = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
