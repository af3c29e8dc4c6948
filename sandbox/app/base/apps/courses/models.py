from django.conf import settings
from django.db import models


class Course(models.Model):
    title = models.CharField(max_length=200)
    instructor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="courses"
    )
    description = models.TextField(blank=True)

    def __str__(self):
        return self.title
