from django.urls import path
from django.views.decorators.http import require_safe

from . import feeds, views

app_name = "changes"
urlpatterns = [
    path("", views.proposal_list, name="list"),
    path("new/", views.create, name="create"),
    path("public/", views.public_log, name="public"),
    path("public/feed/", require_safe(feeds.PublicChangeFeed()), name="public_feed"),
    path("freezes/", views.freeze_list, name="freezes"),
    path("freezes/new/", views.freeze_new, name="freeze_new"),
    path("freezes/<int:pk>/lift/", views.freeze_lift, name="freeze_lift"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/submit/", views.submit, name="submit"),
    path("<int:pk>/withdraw/", views.withdraw, name="withdraw"),
    path("<int:pk>/amend/", views.amend, name="amend"),
    path("<int:pk>/vote/", views.vote, name="vote"),
    path("<int:pk>/implementation/", views.implementation, name="implementation"),
    path("<int:pk>/reclassify/", views.reclassify, name="reclassify"),
    path("<int:pk>/rollback/", views.rollback, name="rollback"),
]
