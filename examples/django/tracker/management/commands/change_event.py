"""``manage.py change_event ID --title T``: change an event through the ORM.

The save fires post_save like a save in the admin would, so edge_django
posts the event's tags to edge when the transaction commits.
"""
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tracker.models import Event


class Command(BaseCommand):
    """Rename (and optionally move) one event."""

    help = "Change an event's title (and city) through the ORM."

    def add_arguments(self, parser):
        parser.add_argument("id", type=int)
        parser.add_argument("--title", required=True)
        parser.add_argument("--city")

    def handle(self, *args, **opts):
        with transaction.atomic():
            try:
                event = Event.objects.get(pk=opts["id"])
            except Event.DoesNotExist:
                raise CommandError("no event %d" % opts["id"])
            old = event.title
            event.title = opts["title"]
            if opts["city"]:
                event.city = opts["city"]
            event.save()
        self.stdout.write("event %d: %r -> %r" % (event.pk, old, event.title))
