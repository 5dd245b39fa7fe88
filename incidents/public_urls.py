"""Published post-mortems: readable by anyone, without signing in."""

from django.urls import path
from django.views.decorators.http import condition, require_safe

from . import feeds, views

app_name = "postmortems"

urlpatterns = [
    path("", views.public_list, name="list"),
    path("feed/", require_safe(condition(last_modified_func=views.published_last_modified)(
        feeds.PostmortemFeed())), name="feed"),
    path("<slug:slug>/", views.public_detail, name="detail"),
]
