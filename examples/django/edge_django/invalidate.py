"""Post changed tags to edge's admin API, once per committed transaction.

``queue(tags)`` gathers the tags a transaction touches; when it commits,
one ``POST {EDGE_ADMIN_URL}/invalidate`` with ``{"tags": [...]}`` and
``Authorization: Bearer {EDGE_ADMIN_TOKEN}`` tells edge to regenerate the
pages that show them. A rolled-back transaction posts nothing. Outside a
transaction (autocommit) each change posts at once.

edge being down, slow or misconfigured never breaks a save: the request
has a timeout (EDGE_ADMIN_TIMEOUT, 2 s by default), and any failure is
logged as a warning and otherwise ignored; edge's rolling sweep repairs
what a lost invalidation leaves stale.
"""
import json
import logging
import time
import urllib.request

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction

log = logging.getLogger("edge_django")

# Tags per request; a bigger transaction posts several requests.
MAX_TAGS_PER_REQUEST = 1000

# edge's admin API is local or on a private network: never use a proxy
# from the environment to reach it.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _Batch:
    """The tags of one transaction, posted when it commits."""

    def __init__(self):
        self.tags = set()

    def __call__(self):
        post(self.tags)


def queue(tags, using=DEFAULT_DB_ALIAS):
    """Invalidate ``tags`` when the current transaction on ``using``
    commits (at once when there is none)."""
    tags = {t for t in tags if t}
    if not tags:
        return
    conn = transaction.get_connection(using)
    if not conn.in_atomic_block:
        post(tags)
        return
    batch = getattr(conn, "edge_batch", None)
    # A rolled-back transaction drops its on_commit callbacks: start a new
    # batch unless ours is still waiting for the commit.
    if batch is None or not any(
            entry[1] is batch for entry in conn.run_on_commit):
        batch = conn.edge_batch = _Batch()
        transaction.on_commit(batch, using=using)
    batch.tags.update(tags)


def post(tags):
    """POST ``tags`` to edge; return True when edge accepted all of them.

    Never raises: a failure is logged as a warning.
    """
    url = getattr(settings, "EDGE_ADMIN_URL", "")
    token = getattr(settings, "EDGE_ADMIN_TOKEN", "")
    tags = sorted(tags)
    if not url or not token:
        log.debug("EDGE_ADMIN_URL or EDGE_ADMIN_TOKEN not set: "
                  "not invalidating %d tags", len(tags))
        return False
    ok = True
    for i in range(0, len(tags), MAX_TAGS_PER_REQUEST):
        ok = _post_chunk(url, token, tags[i:i + MAX_TAGS_PER_REQUEST]) and ok
    return ok


def _post_chunk(url, token, tags):
    """POST one request of at most MAX_TAGS_PER_REQUEST tags."""
    request = urllib.request.Request(
        url.rstrip("/") + "/invalidate",
        data=json.dumps({"tags": tags}).encode(),
        method="POST",
        headers={"Authorization": "Bearer " + token,
                 "Content-Type": "application/json"},
    )
    timeout = getattr(settings, "EDGE_ADMIN_TIMEOUT", 2.0)
    shown = " ".join(tags[:8]) + (" ..." if len(tags) > 8 else "")
    started = time.monotonic()
    try:
        with _opener.open(request, timeout=timeout) as response:
            answer = " ".join(response.read(512).decode(
                "utf-8", "replace").split())
            status = response.status
    # Anything at all (refused, timeout, HTTP 4xx/5xx, a bad URL): this
    # runs after the commit, and raising here would fail the request that
    # saved.
    except Exception as exc:
        log.warning("invalidating %d tags (%s) at %s failed: %s; "
                    "their pages stay as they are until edge's sweep",
                    len(tags), shown, url, exc)
        return False
    log.info("invalidated %d tags (%s): %d %s in %.0f ms",
             len(tags), shown, status, answer,
             (time.monotonic() - started) * 1000)
    return True
