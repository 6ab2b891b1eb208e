"""edge-django: keep edge's pre-generated pages in step with Django's ORM.

Pure Python, standard library and Django only. Copy this package into a
project, then:

- add ``"edge_django"`` to INSTALLED_APPS (connects the signal handlers);
- put ``"edge_django.middleware.SurrogateKeyMiddleware"`` first in
  MIDDLEWARE (emits the Surrogate-Key of every public page);
- make the models whose rows appear on pages inherit
  ``edge_django.tags.Tagged``;
- set EDGE_ADMIN_URL (edge's admin API, e.g. ``http://127.0.0.1:9091``)
  and EDGE_ADMIN_TOKEN (its admin.token); unset, nothing is posted.

Modules: ``tags`` (tag names, the collector, the Tagged mixin),
``middleware``, ``signals`` (the tags a change touches) and
``invalidate`` (batching per transaction and the POST to edge).
"""
