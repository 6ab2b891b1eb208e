"""The tracker's pages: a home page, and a list and a detail page per model.

The rows each page loads are recorded by edge_django (every model is
Tagged); the pages that also show counts add ``list-<model>`` tags by hand,
because counting loads no rows.
"""
from django.db.models import Count, Prefetch
from django.shortcuts import render
from django.views.generic import DetailView, ListView

from edge_django import tags

from .models import Event, Organisation, Person, Topic

PAGE_SIZES = {Event: 25, Person: 30}


def home(request):
    """The newest events, every topic, and how many of each thing exist."""
    for model in (Event, Person, Topic, Organisation):
        tags.add(tags.list_tag(model))
    context = {
        "latest": Event.objects.order_by("-starts", "-pk")[:10],
        "topics": Topic.objects.all(),
        "counts": {
            "events": Event.objects.count(),
            "people": Person.objects.count(),
            "topics": Topic.objects.count(),
            "organisations": Organisation.objects.count(),
        },
    }
    return render(request, "tracker/home.html", context)


class EventList(ListView):
    """All events by date, with their topics."""

    model = Event
    paginate_by = PAGE_SIZES[Event]
    queryset = Event.objects.prefetch_related("topics")


class EventDetail(DetailView):
    """One event: its topics, speakers and organisers."""

    model = Event
    queryset = Event.objects.prefetch_related(
        "topics", "organisers",
        Prefetch("speakers",
                 queryset=Person.objects.select_related("organisation")))


class PersonList(ListView):
    """All people by name, with their organisation."""

    model = Person
    paginate_by = PAGE_SIZES[Person]
    queryset = Person.objects.select_related("organisation")


class PersonDetail(DetailView):
    """One person: organisation, topics, and the events they speak at."""

    model = Person
    queryset = Person.objects.select_related("organisation").prefetch_related(
        "topics",
        Prefetch("events", queryset=Event.objects.order_by("starts")))


class TopicList(ListView):
    """Every topic with its number of events and its latest event."""

    model = Topic
    queryset = Topic.objects.annotate(n_events=Count("events"))

    def get_context_data(self, **kwargs):
        tags.add(tags.list_tag(Event))  # the counts
        context = super().get_context_data(**kwargs)
        for topic in context["object_list"]:
            topic.latest = topic.events.order_by("-starts", "-pk").first()
        return context


class TopicDetail(DetailView):
    """One topic: its events by date and the people working on it."""

    model = Topic
    queryset = Topic.objects.prefetch_related(
        Prefetch("events", queryset=Event.objects.order_by("starts")),
        "people")


class OrganisationList(ListView):
    """Every organisation with its number of members."""

    model = Organisation
    queryset = Organisation.objects.annotate(n_members=Count("members"))

    def get_context_data(self, **kwargs):
        tags.add(tags.list_tag(Person))  # the counts
        return super().get_context_data(**kwargs)


class OrganisationDetail(DetailView):
    """One organisation: its members and the events it hosts."""

    model = Organisation
    queryset = Organisation.objects.prefetch_related(
        "members",
        Prefetch("events", queryset=Event.objects.order_by("starts")))
