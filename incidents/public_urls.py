"""Published post-mortems: readable by anyone, without signing in."""

from django.urls import path

from . import views

app_name = "postmortems"

urlpatterns = [
    path("", views.public_list, name="list"),
    path("feed/", views.public_feed, name="feed"),
    path("<slug:slug>/", views.public_detail, name="detail"),
]
