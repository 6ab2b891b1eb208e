"""App config of the tracker."""
from django.apps import AppConfig


class TrackerConfig(AppConfig):
    """The academic events tracker."""

    name = "tracker"
