"""The tracker's tables: events, the people who speak at them, their topics
and the organisations that host them.

Every model inherits edge_django's ``Tagged``: each row a view loads is
named in the response's Surrogate-Key (``event-42``, ``topic-ml``), and
each saved or deleted row invalidates the pages that named it.
"""
from django.db import models
from django.urls import reverse

from edge_django.tags import Tagged


class Organisation(Tagged):
    """A university, institute or society that hosts events."""

    name = models.CharField(max_length=200)
    city = models.CharField(max_length=100)
    about = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("organisation-detail", args=[self.pk])


class Topic(Tagged):
    """A research field; its tag is ``topic-<slug>``."""

    edge_tag_field = "slug"

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    about = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("topic-detail", args=[self.slug])


class Person(Tagged):
    """A researcher: affiliated with an organisation, speaks at events."""

    name = models.CharField(max_length=200)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="members")
    topics = models.ManyToManyField(Topic, blank=True, related_name="people")
    bio = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "people"

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("person-detail", args=[self.pk])


class Event(Tagged):
    """A conference, workshop or seminar."""

    title = models.CharField(max_length=200)
    starts = models.DateField()
    city = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    topics = models.ManyToManyField(Topic, blank=True, related_name="events")
    speakers = models.ManyToManyField(
        Person, blank=True, related_name="events")
    organisers = models.ManyToManyField(
        Organisation, blank=True, related_name="events")

    class Meta:
        ordering = ["starts", "pk"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("event-detail", args=[self.pk])
