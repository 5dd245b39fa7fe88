from django.urls import path
from django.views.generic import RedirectView

from . import views

app_name = "incidents"

urlpatterns = [
    path("", views.incident_list, name="list"),
    path("declare/", views.declare, name="declare"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/live/", views.live, name="live"),
    path("<int:pk>/resolve/", views.resolve, name="resolve"),
    path("<int:pk>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("<int:pk>/steps/<int:step_id>/retry/", views.retry_step, name="retry"),
    path("<int:pk>/steps/<int:step_id>/skip/", views.skip_step, name="skip"),
    path("<int:pk>/evidence/<int:evidence_id>/", views.download_evidence, name="evidence"),
    path("<int:pk>/postmortem/", views.postmortem, name="postmortem"),
    path("<int:pk>/postmortem/submit/", views.postmortem_submit, name="postmortem_submit"),
    path("<int:pk>/postmortem/publish/", views.postmortem_publish, name="postmortem_publish"),
    path("<int:pk>/postmortem/send-back/", views.postmortem_send_back, name="postmortem_send_back"),
    path("<int:pk>/postmortem/amendments/new/", views.amendment_new, name="amendment_new"),
    path("<int:pk>/postmortem/amendments/<int:amendment_id>/", views.postmortem, name="amendment"),
    path("<int:pk>/postmortem/amendments/<int:amendment_id>/submit/", views.postmortem_submit,
         name="amendment_submit"),
    path("<int:pk>/postmortem/amendments/<int:amendment_id>/publish/", views.postmortem_publish,
         name="amendment_publish"),
    path("<int:pk>/postmortem/amendments/<int:amendment_id>/send-back/",
         views.postmortem_send_back, name="amendment_send_back"),
    path("<int:pk>/notices/new/", views.notice_new, name="notice_new"),
    path("<int:pk>/notices/<int:notice_id>/publish/", views.notice_publish, name="notice_publish"),
    path("<int:pk>/notices/<int:notice_id>/discard/", views.notice_discard, name="notice_discard"),
    # The node registry moved to the fleet app; old bookmarks still land on it.
    path("nodes/", RedirectView.as_view(pattern_name="fleet:nodes")),
    path("nodes/add/", RedirectView.as_view(pattern_name="fleet:node_add")),
    path("nodes/<int:node_id>/", RedirectView.as_view(pattern_name="fleet:node_edit")),
]
