"""The public status page: HTML, Atom and Statuspage-compatible JSON, readable by anyone."""

from django.urls import path

from . import views

app_name = "status"

urlpatterns = [
    path("status/", views.status_page, name="page"),
    path("status/feed/", views.status_feed, name="feed"),
    # The paths Statuspage serves, so existing status tooling can read this page.
    path("api/v2/summary.json", views.status_summary, name="summary"),
    path("api/v2/status.json", views.status_status, name="status"),
    path("api/v2/components.json", views.status_components, name="components"),
    path("api/v2/incidents.json", views.status_incidents, name="incidents"),
    path("api/v2/incidents/unresolved.json", views.status_unresolved, name="unresolved"),
]
