"""The Django admin for the tracker: a change saved here reaches edge."""
from django.contrib import admin

from .models import Event, Organisation, Person, Topic


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """Events: searchable by title, filtered by topic."""

    list_display = ("title", "starts", "city")
    list_filter = ("topics",)
    search_fields = ("title", "city")
    filter_horizontal = ("topics", "speakers", "organisers")


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    """People: searchable by name."""

    list_display = ("name", "organisation")
    search_fields = ("name",)
    filter_horizontal = ("topics",)


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    """Topics."""

    list_display = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    """Organisations."""

    list_display = ("name", "city")
    search_fields = ("name",)
