"""Signal handlers: the tags a change touches, queued for edge.

- saving a row touches its own tag (and its old one, when the tag's field
  changed), ``all-<model>``, ``list-<model>`` when it is new, and the rows
  its foreign keys pointed to and point to now, when they changed;
- deleting a row touches its tag, ``list-<model>`` and ``all-<model>``;
- adding, removing or clearing many-to-many links touches both sides.

The tags are posted once per transaction (see invalidate.queue). Fixtures
loaded with ``loaddata`` (raw saves) are ignored.
"""
from django.db.models.signals import m2m_changed, post_delete, post_save

from .invalidate import queue
from .tags import Tagged, all_tag, list_tag


def saved_tags(instance, created):
    """Return the tags touched by saving ``instance``."""
    model = type(instance)
    loaded = getattr(instance, "_edge_loaded", None)
    old_tag, old_fks = loaded or (None, {})
    tags = {instance.edge_tag(), old_tag, all_tag(model)}
    if created:
        tags.add(list_tag(model))
    for field in model._meta.concrete_fields:
        target = field.related_model
        if not (field.many_to_one and issubclass(target, Tagged)):
            continue
        new = getattr(instance, field.attname)
        old = old_fks.get(field.attname, new)
        if created or loaded is None or old != new:
            tags.update(target.edge_tags_for({old, new}))
    instance._edge_loaded = instance.edge_snapshot()
    return tags


def deleted_tags(instance):
    """Return the tags touched by deleting ``instance``."""
    model = type(instance)
    return {instance.edge_tag(), list_tag(model), all_tag(model)}


def linked_pks(instance, reverse, model, through):
    """Return the pks of ``model`` rows linked to ``instance`` through the
    many-to-many table ``through``."""
    owner = model if reverse else type(instance)
    for field in owner._meta.many_to_many:
        if field.remote_field.through is through:
            name = (field.remote_field.get_accessor_name() if reverse
                    else field.name)
            return set(getattr(instance, name).values_list("pk", flat=True))
    return set()


def on_save(sender, instance, created, raw=False, using=None, **kwargs):
    """post_save: queue the row's tags."""
    if isinstance(instance, Tagged) and not raw:
        queue(saved_tags(instance, created), using)


def on_delete(sender, instance, using=None, **kwargs):
    """post_delete: queue the row's tags."""
    if isinstance(instance, Tagged):
        queue(deleted_tags(instance), using)


def on_m2m(sender, instance, action, reverse, model, pk_set, using=None,
           **kwargs):
    """m2m_changed: queue the tags of both sides of the changed links."""
    if action == "pre_clear":
        pk_set = linked_pks(instance, reverse, model, sender)
    elif action not in ("post_add", "post_remove"):
        return
    if not pk_set:
        return
    tags = set()
    if isinstance(instance, Tagged):
        tags.add(instance.edge_tag())
    if issubclass(model, Tagged):
        tags.update(model.edge_tags_for(pk_set))
    queue(tags, using)


def connect():
    """Connect the handlers (called once, from the app's ready())."""
    uid = "edge_django.%s"
    post_save.connect(on_save, dispatch_uid=uid % "save")
    post_delete.connect(on_delete, dispatch_uid=uid % "delete")
    m2m_changed.connect(on_m2m, dispatch_uid=uid % "m2m")
