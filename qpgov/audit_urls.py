from django.urls import path
from django.views.decorators.http import require_safe

from . import audit

app_name = "audit"
urlpatterns = [
    path("", audit.overview, name="overview"),
    path("checkpoints/", audit.latest, name="latest"),
    path("checkpoints/all.txt", audit.all_notes, name="all"),
    path("checkpoints/key.txt", audit.verifier_key, name="key"),
    path("checkpoints/feed/", require_safe(audit.CheckpointFeed()), name="feed"),
    path("checkpoints/<int:number>/", audit.by_number, name="checkpoint"),
]
