"""Dependency tags: the names of the rows a response shows.

A row's tag is ``<model>-<key>`` (``event-42``, ``topic-ml``), a list's is
``list-<model>`` (any page whose content changes when a row of the model
is added or removed) and ``all-<model>`` stands for "every row of the
model" on a page that shows too many rows to name them one by one.

While the middleware handles a request, every instance of a ``Tagged``
model that the ORM loads (``get()``, iterating a queryset, ``select_related``
and ``prefetch_related`` alike) records its tag in a context-local
collector; ``add()`` records any other tag. Outside a request (management
commands, the shell) nothing is recorded.
"""
import contextvars
from collections import defaultdict

from django.db import models

_collector = contextvars.ContextVar("edge_django_collector", default=None)


def row_tag(model, key):
    """Return the tag of one row: ``event-42``."""
    return "%s-%s" % (model._meta.model_name, key)


def list_tag(model):
    """Return the tag of the pages that list a model's rows: ``list-event``."""
    return "list-%s" % model._meta.model_name


def all_tag(model):
    """Return the tag standing for every row of a model: ``all-event``."""
    return "all-%s" % model._meta.model_name


class Collector:
    """The tags recorded while one response was made."""

    def __init__(self):
        self.rows = defaultdict(set)  # model name -> row tags
        self.names = set()  # list and other tags

    def __bool__(self):
        return bool(self.rows or self.names)

    def header(self, max_bytes):
        """Return the Surrogate-Key value, at most ``max_bytes`` long when
        possible: the models with the most rows are named by their
        ``all-<model>`` tag instead of row by row until it fits."""
        rows = dict(self.rows)
        while True:
            tags = set(self.names).union(*rows.values())
            tags.update("all-%s" % m for m in self.rows if m not in rows)
            value = " ".join(sorted(tags))
            if len(value) <= max_bytes or not rows:
                return value
            del rows[max(rows, key=lambda m: (len(rows[m]), m))]


def start():
    """Start collecting in the current context; return a token for stop()."""
    return _collector.set(Collector())


def stop(token):
    """Stop collecting; return the Collector filled since start()."""
    collected = _collector.get()
    _collector.reset(token)
    return collected


def add(*tags):
    """Record extra tags for the response being made (no-op outside one).

    For what the ORM does not load as instances: counts, ``values()``,
    aggregates. ``add(list_tag(Event))`` on a page that shows how many
    events there are.
    """
    collected = _collector.get()
    if collected is not None:
        collected.names.update(t for t in tags if t)


def _record_row(instance):
    collected = _collector.get()
    tag = instance.edge_tag()
    if collected is not None and tag:
        collected.rows[instance._meta.model_name].add(tag)


class Tagged(models.Model):
    """Mixin for models whose rows appear on cached pages.

    ``edge_tag_field`` names the field whose value keys the tag ("pk" by
    default; a slug makes tags readable). Its values must not contain
    white space.
    """

    edge_tag_field = "pk"

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values):
        """Load a row as usual, record its tag and remember what it
        pointed to, so that a later save can invalidate the old targets."""
        instance = super().from_db(db, field_names, values)
        instance._edge_loaded = instance.edge_snapshot()
        _record_row(instance)
        return instance

    def edge_tag(self):
        """Return this row's tag, or None when its key is not loaded."""
        if self.edge_tag_field == "pk":
            key = self.pk
        else:
            key = self.__dict__.get(self.edge_tag_field)
        return None if key is None else row_tag(type(self), key)

    def edge_snapshot(self):
        """Return (tag, {foreign key attname: value}) as loaded now."""
        fks = {
            f.attname: self.__dict__[f.attname]
            for f in self._meta.concrete_fields
            if f.many_to_one and f.attname in self.__dict__
        }
        return self.edge_tag(), fks

    @classmethod
    def edge_tags_for(cls, pks):
        """Return the tags of the rows with these primary keys."""
        pks = [pk for pk in pks if pk is not None]
        if cls.edge_tag_field == "pk" or not pks:
            return {row_tag(cls, pk) for pk in pks}
        keys = cls._default_manager.filter(pk__in=pks).values_list(
            cls.edge_tag_field, flat=True)
        return {row_tag(cls, key) for key in keys}
