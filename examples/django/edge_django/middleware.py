"""SurrogateKeyMiddleware: tell edge which rows each page shows.

Put it first in MIDDLEWARE. For a public GET or HEAD response it sets
``Surrogate-Key`` to the tags of every ``Tagged`` row the view loaded, plus
``list-<model>`` for class-based list views (``ListView`` and friends).
edge records the tags with the stored page and strips the header.

A response that used a non-empty session (a logged-in user's page) is made
``Cache-Control: private`` and gets no tags; so does one that sets a cookie,
answers a request with ``Authorization`` or is already private: such pages
are never stored by edge, so they need no invalidation.
"""
from django.conf import settings
from django.utils.cache import patch_cache_control
from django.views.generic.list import MultipleObjectMixin

from . import tags

# Below the origin client's 16 KiB header buffer in edge, with room for
# the other headers.
DEFAULT_MAX_BYTES = 8000

_PRIVATE_DIRECTIVES = ("private", "no-store", "no-cache")


def uses_session(request):
    """Return True when the response depended on a non-empty session."""
    session = getattr(request, "session", None)
    return session is not None and session.accessed and not session.is_empty()


def is_public(request, response):
    """Return True when edge may store the response, so tags matter."""
    cache_control = response.get("Cache-Control", "").lower()
    return (
        request.method in ("GET", "HEAD")
        and not response.streaming
        and not response.cookies
        and "HTTP_AUTHORIZATION" not in request.META
        and not any(d in cache_control for d in _PRIVATE_DIRECTIVES)
    )


class SurrogateKeyMiddleware:
    """Collect the rows a view reads and emit them as Surrogate-Key."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.max_bytes = getattr(
            settings, "EDGE_SURROGATE_KEY_MAX_BYTES", DEFAULT_MAX_BYTES)

    def __call__(self, request):
        token = tags.start()
        try:
            response = self.get_response(request)
        finally:
            collected = tags.stop(token)
        if uses_session(request):
            patch_cache_control(response, private=True)
        elif collected and is_public(request, response):
            response["Surrogate-Key"] = collected.header(self.max_bytes)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        """Tag list views with ``list-<model>``: a new row may join them."""
        view_class = getattr(view_func, "view_class", None)
        if view_class and issubclass(view_class, MultipleObjectMixin):
            queryset = getattr(view_class, "queryset", None)
            model = view_class.model or getattr(queryset, "model", None)
            if model is not None:
                tags.add(tags.list_tag(model))
