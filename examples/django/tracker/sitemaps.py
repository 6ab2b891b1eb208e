"""Sitemaps (django.contrib.sitemaps): an index with one section per model
and one for the home page and the numbered list pages. ``edge gen
-sitemap`` reads them to pre-generate every page."""
from django.contrib.sitemaps import Sitemap
from django.urls import reverse

from edge_django import tags

from .models import Event, Organisation, Person, Topic
from .views import PAGE_SIZES


class ModelSitemap(Sitemap):
    """Every row of a model; the section changes when rows come or go."""

    def __init__(self, model):
        self.model = model

    def items(self):
        tags.add(tags.list_tag(self.model))
        return self.model._default_manager.order_by("pk")


class ListSitemap(Sitemap):
    """The home page and every page of every list."""

    def items(self):
        paths = [reverse("home"), reverse("topic-list"),
                 reverse("organisation-list")]
        for name, model in (("event-list", Event), ("person-list", Person)):
            tags.add(tags.list_tag(model))
            pages = -(-model._default_manager.count() // PAGE_SIZES[model])
            path = reverse(name)
            paths.append(path)
            paths.extend("%s?page=%d" % (path, n) for n in range(2, pages + 1))
        return paths

    def location(self, item):
        return item


SITEMAPS = {
    "lists": ListSitemap(),
    "events": ModelSitemap(Event),
    "people": ModelSitemap(Person),
    "topics": ModelSitemap(Topic),
    "organisations": ModelSitemap(Organisation),
}
