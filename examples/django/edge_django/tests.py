"""Tests of edge_django, run with ``python3 manage.py test edge_django``.

They use the example's tracker models. The invalidation tests post to a
tiny HTTP server on 127.0.0.1 standing in for edge's admin API.
"""
import datetime
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.contrib.auth.models import User
from django.db import transaction
from django.test import TestCase, TransactionTestCase, override_settings

from tracker.models import Event, Organisation, Person, Topic

HOST = "127.0.0.1:8080"


def make_rows():
    """Create two organisations, two topics, two people and two events."""
    orgs = [Organisation.objects.create(name=n, city="Oslo")
            for n in ("Org A", "Org B")]
    ml = Topic.objects.create(slug="ml", name="Machine learning")
    db = Topic.objects.create(slug="db", name="Databases")
    ada = Person.objects.create(name="Ada", organisation=orgs[0])
    alan = Person.objects.create(name="Alan", organisation=orgs[1])
    day = datetime.date(2025, 1, 1)
    e1 = Event.objects.create(title="Conf One", starts=day, city="Oslo")
    e2 = Event.objects.create(title="Conf Two", starts=day, city="Kyoto")
    e1.topics.add(ml)
    e1.speakers.add(ada)
    e1.organisers.add(orgs[0])
    e2.topics.add(db)
    e2.speakers.add(alan)
    return e1, e2


def keys(response):
    """Return the Surrogate-Key of a response as a set."""
    return set(response.get("Surrogate-Key", "").split())


class MiddlewareTests(TestCase):
    """The Surrogate-Key header of public and private pages."""

    def setUp(self):
        self.e1, self.e2 = make_rows()
        self.client.defaults["HTTP_HOST"] = HOST

    def test_detail_page_names_the_rows_it_shows(self):
        e1 = self.e1
        response = self.client.get(e1.get_absolute_url())
        self.assertEqual(response.status_code, 200)
        want = {"event-%d" % e1.pk, "topic-ml",
                "person-%d" % e1.speakers.get().pk,
                "organisation-%d" % e1.speakers.get().organisation_id}
        self.assertEqual(keys(response), want)
        self.assertNotIn("Cache-Control", response)

    def test_list_page_has_its_rows_and_list_tag(self):
        response = self.client.get("/events/")
        self.assertEqual(keys(response), {
            "list-event", "event-%d" % self.e1.pk, "event-%d" % self.e2.pk,
            "topic-ml", "topic-db"})

    def test_topic_page_lists_its_events_only(self):
        response = self.client.get("/topics/ml/")
        self.assertIn("event-%d" % self.e1.pk, keys(response))
        self.assertNotIn("event-%d" % self.e2.pk, keys(response))

    def test_logged_in_page_is_private_and_untagged(self):
        User.objects.create_user("ada", password="pw-for-tests")
        self.client.login(username="ada", password="pw-for-tests")
        response = self.client.get(self.e1.get_absolute_url())
        self.assertContains(response, "Signed in as <b>ada</b>")
        self.assertNotIn("Surrogate-Key", response)
        self.assertIn("private", response["Cache-Control"])
        self.assertIn("Cookie", response["Vary"])

    def test_page_with_csrf_cookie_is_untagged(self):
        response = self.client.get("/accounts/login/")
        self.assertIn("csrftoken", response.cookies)
        self.assertNotIn("Surrogate-Key", response)

    @override_settings(EDGE_SURROGATE_KEY_MAX_BYTES=40)
    def test_too_many_rows_collapse_into_all_tag(self):
        for n in range(3):
            Event.objects.create(title="Extra %d" % n, city="Oslo",
                                 starts=datetime.date(2025, 2, 1))
        response = self.client.get("/events/")
        self.assertEqual(keys(response),
                         {"list-event", "all-event", "topic-ml", "topic-db"})


class FakeEdge(BaseHTTPRequestHandler):
    """Records each POST and answers 202 like edge's /invalidate."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append(
            (self.path, self.headers["Authorization"], json.loads(body)))
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"marked": 1}')

    def log_message(self, *args):
        """Keep the test output quiet."""


class InvalidationTests(TransactionTestCase):
    """Saves post their tags to edge once per committed transaction."""

    def setUp(self):
        self.edge = ThreadingHTTPServer(("127.0.0.1", 0), FakeEdge)
        self.edge.posts, self.edge.status = [], 202
        threading.Thread(target=self.edge.serve_forever, daemon=True).start()
        self.addCleanup(self.edge.server_close)
        self.addCleanup(self.edge.shutdown)
        url = "http://127.0.0.1:%d" % self.edge.server_address[1]
        settings = override_settings(EDGE_ADMIN_URL=url,
                                     EDGE_ADMIN_TOKEN="test-token")
        settings.enable()
        self.addCleanup(settings.disable)
        with self.settings(EDGE_ADMIN_URL=""):
            self.e1, self.e2 = make_rows()

    def tags(self, n=0):
        """Return the tags of the n-th request edge received."""
        return set(self.edge.posts[n][2]["tags"])

    def test_transaction_posts_once_after_commit(self):
        with transaction.atomic():
            event = Event.objects.get(pk=self.e1.pk)
            event.title = "Conf One, renamed"
            event.save()
            event.topics.add(Topic.objects.get(slug="db"))
            event.save()
            self.assertEqual(self.edge.posts, [])
        self.assertEqual(len(self.edge.posts), 1)
        path, auth, _ = self.edge.posts[0]
        self.assertEqual((path, auth), ("/invalidate", "Bearer test-token"))
        self.assertEqual(self.tags(),
                         {"event-%d" % event.pk, "all-event", "topic-db"})

    def test_rolled_back_transaction_posts_nothing(self):
        with self.assertRaises(RuntimeError), transaction.atomic():
            Event.objects.filter(pk=self.e1.pk).get().save()
            raise RuntimeError("roll back")
        self.assertEqual(self.edge.posts, [])
        Event.objects.get(pk=self.e2.pk).save()
        self.assertEqual(self.tags(), {"event-%d" % self.e2.pk, "all-event"})

    def test_m2m_changes_touch_both_sides(self):
        topic = Topic.objects.get(slug="db")
        topic.events.add(self.e1)
        self.assertEqual(self.tags(0), {"topic-db", "event-%d" % self.e1.pk})
        self.e2.topics.clear()
        self.assertEqual(self.tags(1), {"topic-db", "event-%d" % self.e2.pk})

    def test_foreign_key_change_touches_old_and_new_target(self):
        person = Person.objects.get(name="Ada")
        old, new = person.organisation_id, Organisation.objects.last().pk
        person.organisation_id = new
        person.save()
        self.assertEqual(self.tags(), {
            "person-%d" % person.pk, "all-person",
            "organisation-%d" % old, "organisation-%d" % new})

    def test_renamed_slug_touches_old_and_new_tag(self):
        topic = Topic.objects.get(slug="ml")
        topic.slug = "machine-learning"
        topic.save()
        self.assertEqual(self.tags(), {
            "topic-ml", "topic-machine-learning", "all-topic"})

    def test_new_and_deleted_rows_touch_the_lists(self):
        want = {"topic-new", "list-topic", "all-topic"}
        topic = Topic.objects.create(slug="new", name="New")
        self.assertEqual(self.tags(0), want)
        topic.delete()
        self.assertEqual(self.tags(1), want)

    def test_edge_down_never_breaks_a_save(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = "http://127.0.0.1:%d" % s.getsockname()[1]
        with self.settings(EDGE_ADMIN_URL=closed), \
                self.assertLogs("edge_django", "WARNING") as logs:
            with transaction.atomic():
                event = Event.objects.get(pk=self.e1.pk)
                event.title = "Saved anyway"
                event.save()
        saved = Event.objects.get(pk=self.e1.pk)
        self.assertEqual(saved.title, "Saved anyway")
        self.assertIn("failed", logs.output[0])

    def test_edge_refusing_the_token_is_a_warning(self):
        self.edge.status = 401
        with self.assertLogs("edge_django", "WARNING") as logs:
            Event.objects.get(pk=self.e1.pk).save()
        self.assertIn("401", logs.output[0])

    def test_without_settings_nothing_is_posted(self):
        with self.settings(EDGE_ADMIN_TOKEN=""), \
                self.assertLogs("edge_django", "DEBUG") as logs:
            Event.objects.get(pk=self.e1.pk).save()
        self.assertEqual(self.edge.posts, [])
        self.assertIn("not set", logs.output[0])
