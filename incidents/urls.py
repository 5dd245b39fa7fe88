from django.urls import path

from . import views

app_name = "incidents"

urlpatterns = [
    path("", views.incident_list, name="list"),
    path("declare/", views.declare, name="declare"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/resolve/", views.resolve, name="resolve"),
    path("<int:pk>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("<int:pk>/steps/<int:step_id>/retry/", views.retry_step, name="retry"),
    path("<int:pk>/steps/<int:step_id>/skip/", views.skip_step, name="skip"),
    path("<int:pk>/evidence/<int:evidence_id>/", views.download_evidence, name="evidence"),
    path("nodes/", views.node_list, name="nodes"),
    path("nodes/add/", views.node_edit, name="node_add"),
    path("nodes/<int:node_id>/", views.node_edit, name="node_edit"),
]
