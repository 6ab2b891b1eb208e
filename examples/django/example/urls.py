"""The example's URLs: the tracker, its sitemaps, login and the admin.

/accounts/ and /admin/ are in edge's cache.bypass_paths: their forms carry
CSRF tokens and must never be stored.
"""
from django.contrib import admin
from django.contrib.sitemaps import views as sitemaps
from django.urls import include, path

from tracker.sitemaps import SITEMAPS

urlpatterns = [
    path("", include("tracker.urls")),
    path("sitemap.xml", sitemaps.index, {"sitemaps": SITEMAPS},
         name="sitemap-index"),
    path("sitemap-<section>.xml", sitemaps.sitemap, {"sitemaps": SITEMAPS},
         name="django.contrib.sitemaps.views.sitemap"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]
