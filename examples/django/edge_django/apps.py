"""App config: connects the invalidation signal handlers."""
from django.apps import AppConfig


class EdgeDjangoConfig(AppConfig):
    """edge-django's app: nothing but the signal handlers."""

    name = "edge_django"
    verbose_name = "edge"

    def ready(self):
        from . import signals

        signals.connect()
