"""The Django project of the edge example: settings, URLs, WSGI entry."""
