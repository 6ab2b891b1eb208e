"""``manage.py seed``: replace the tracker's rows with deterministic data.

The same options always give the same rows, ids and links. Rows are
written with bulk_create (no signals: nothing is posted to edge), so seed
a site before putting edge in front of it.
"""
import datetime
import random

from django.core.management.base import BaseCommand
from django.db import transaction

from tracker.models import Event, Organisation, Person, Topic

TOPICS = [
    ("ml", "Machine learning"), ("nlp", "Natural language processing"),
    ("db", "Databases"), ("net", "Computer networks"),
    ("sec", "Security and privacy"), ("pl", "Programming languages"),
    ("hci", "Human-computer interaction"), ("os", "Operating systems"),
    ("theory", "Theory of computation"), ("vision", "Computer vision"),
    ("robotics", "Robotics"), ("bio", "Bioinformatics"),
    ("graphics", "Computer graphics"), ("dist", "Distributed systems"),
    ("ir", "Information retrieval"), ("se", "Software engineering"),
    ("arch", "Computer architecture"), ("crypto", "Cryptography"),
    ("edu", "Computing education"), ("quantum", "Quantum computing"),
]
CITIES = ["Oslo", "Lisbon", "Kyoto", "Montreal", "Edinburgh", "Vienna",
          "Santiago", "Cape Town", "Melbourne", "Bangalore", "Zurich",
          "Boston", "Prague", "Seoul", "Copenhagen"]
FIRST = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances",
         "John", "Radia", "Ken", "Margaret", "Tim", "Shafi", "Leslie",
         "Sophie", "Niklaus", "Karen", "Tony", "Hedy", "Claude"]
LAST = ["Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth",
        "Allen", "McCarthy", "Perlman", "Thompson", "Hamilton", "Berners",
        "Goldwasser", "Lamport", "Wilson", "Wirth", "Jones", "Hoare",
        "Lamarr", "Shannon"]
KINDS = ["International Conference on", "Workshop on", "Symposium on",
         "Summer School on", "Seminar on"]
WORDS = ("the of results methods evaluation systems open problems data "
         "models theory practice session keynote tutorial poster papers "
         "invited talks community industry track reproducibility").split()


def prose(rng, sentences):
    """Return deterministic filler text of about ``sentences`` sentences."""
    out = []
    for _ in range(sentences):
        words = rng.choices(WORDS, k=rng.randint(8, 16))
        out.append(" ".join(words).capitalize() + ".")
    return "\n\n".join(" ".join(out[i:i + 4]) for i in range(0, len(out), 4))


class Command(BaseCommand):
    """Replace all events, people, topics and organisations."""

    help = "Replace the tracker's data with deterministic sample rows."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=300)
        parser.add_argument("--people", type=int, default=120)
        parser.add_argument("--organisations", type=int, default=15)
        parser.add_argument("--seed", type=int, default=2008)

    @transaction.atomic
    def handle(self, *args, **opts):
        rng = random.Random(opts["seed"])
        for model in (Event, Person, Topic, Organisation):
            model.objects.all().delete()
        orgs = self.organisations(rng, opts["organisations"])
        Organisation.objects.bulk_create(orgs)
        topics = [Topic(pk=i, slug=s, name=n, about=prose(rng, 5))
                  for i, (s, n) in enumerate(TOPICS, start=1)]
        Topic.objects.bulk_create(topics)
        people = [Person(pk=i, name="%s %s" % (rng.choice(FIRST),
                                               rng.choice(LAST)),
                         organisation=rng.choice(orgs), bio=prose(rng, 8))
                  for i in range(1, opts["people"] + 1)]
        Person.objects.bulk_create(people)
        self.link(Person.topics.through, "person", "topic", people, topics,
                  rng, 1, 3)
        events = self.events(rng, opts["events"], topics)
        Event.objects.bulk_create(events)
        self.link(Event.topics.through, "event", "topic", events, topics,
                  rng, 1, 3)
        self.link(Event.speakers.through, "event", "person", events, people,
                  rng, 2, 6)
        self.link(Event.organisers.through, "event", "organisation", events,
                  orgs, rng, 1, 2)
        self.stdout.write("seeded %d events, %d people, %d topics, "
                          "%d organisations" % (len(events), len(people),
                                                len(topics), len(orgs)))

    @staticmethod
    def organisations(rng, n):
        """Return ``n`` unsaved organisations with ids 1..n."""
        orgs = []
        for i in range(n):
            city = CITIES[i % len(CITIES)]
            number = " %d" % (i // len(CITIES) + 1) if i >= len(CITIES) else ""
            orgs.append(Organisation(
                pk=i + 1, name="%s Institute of Computing%s" % (city, number),
                city=city, about=prose(rng, 6)))
        return orgs

    @staticmethod
    def events(rng, n, topics):
        """Return ``n`` unsaved events with ids 1..n."""
        first = datetime.date(2024, 1, 1)
        events = []
        for i in range(1, n + 1):
            starts = first + datetime.timedelta(days=rng.randrange(1460))
            title = "%s %s %d" % (rng.choice(KINDS), rng.choice(topics).name,
                                  starts.year)
            events.append(Event(pk=i, title=title, starts=starts,
                                city=rng.choice(CITIES),
                                description=prose(rng, 12)))
        return events

    @staticmethod
    def link(through, src, dst, sources, targets, rng, low, high):
        """Link each source row to ``low``..``high`` distinct targets."""
        rows = [through(**{src + "_id": s.pk, dst + "_id": t.pk})
                for s in sources
                for t in rng.sample(targets, min(len(targets),
                                                 rng.randint(low, high)))]
        through.objects.bulk_create(rows, batch_size=500)
