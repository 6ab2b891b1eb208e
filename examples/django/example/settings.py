"""Settings of the edge example: an academic events tracker.

Everything that differs between a laptop and a server comes from the
environment, with defaults that work on a laptop:

DJANGO_SECRET_KEY      signing key (the default is for local runs only)
DJANGO_DEBUG           "1" for debug pages (default off)
DJANGO_ALLOWED_HOSTS   comma-separated host names (default 127.0.0.1,localhost)
DJANGO_DATA_DIR        directory of the SQLite file (default var/ beside
                       manage.py)
DJANGO_SECURE_COOKIES  "1" when the site is served over HTTPS
DJANGO_LOG_LEVEL       level of the edge_django logger (default INFO)
EDGE_ADMIN_URL         edge's admin API, e.g. http://127.0.0.1:9091
EDGE_ADMIN_TOKEN       edge's admin bearer token
EDGE_ADMIN_TIMEOUT     seconds to wait for edge (default 2)

Without EDGE_ADMIN_URL and EDGE_ADMIN_TOKEN nothing is sent to edge.
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name, default="0"):
    """Return True when the environment variable is 1/true/yes/on."""
    return os.environ.get(name, default).strip().lower() in {
        "1", "true", "yes", "on"}


SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "insecure-example-key-set-DJANGO_SECRET_KEY")
DEBUG = env_flag("DJANGO_DEBUG")
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get(
        "DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
    if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.sitemaps",
    "edge_django",
    "tracker",
]

MIDDLEWARE = [
    # First, so that it sees the final response of every view.
    "edge_django.middleware.SurrogateKeyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example.urls"
WSGI_APPLICATION = "example.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATA_DIR = Path(os.environ.get("DJANGO_DATA_DIR", BASE_DIR / "var"))
DATA_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "db.sqlite3",
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = False
USE_L10N = False
USE_TZ = True
STATIC_URL = "/static/"

LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# Behind edge. edge sends X-Forwarded-Host (the public host name) and
# X-Forwarded-Proto (origin.forwarded_proto) on every request it makes, and
# removes any the client sent, so Django may trust them: absolute URLs (the
# sitemap, redirects) then name the public site, not the origin.
USE_X_FORWARDED_HOST = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Must be one of edge's cache.bypass_cookies: a request carrying it is never
# answered from, nor stored in, edge's cache.
SESSION_COOKIE_NAME = "sessionid"
SESSION_COOKIE_SECURE = env_flag("DJANGO_SECURE_COOKIES")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

EDGE_ADMIN_URL = os.environ.get("EDGE_ADMIN_URL", "")
EDGE_ADMIN_TOKEN = os.environ.get("EDGE_ADMIN_TOKEN", "")
EDGE_ADMIN_TIMEOUT = float(os.environ.get("EDGE_ADMIN_TIMEOUT", "2"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "loggers": {
        "edge_django": {
            "handlers": ["stderr"],
            "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO"),
        },
    },
}
