"""URLs of the tracker's pages."""
from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("events/", views.EventList.as_view(), name="event-list"),
    path("events/<int:pk>/", views.EventDetail.as_view(),
         name="event-detail"),
    path("people/", views.PersonList.as_view(), name="person-list"),
    path("people/<int:pk>/", views.PersonDetail.as_view(),
         name="person-detail"),
    path("topics/", views.TopicList.as_view(), name="topic-list"),
    path("topics/<slug:slug>/", views.TopicDetail.as_view(),
         name="topic-detail"),
    path("organisations/", views.OrganisationList.as_view(),
         name="organisation-list"),
    path("organisations/<int:pk>/", views.OrganisationDetail.as_view(),
         name="organisation-detail"),
]
