from django.urls import path

from . import views

app_name = "fleet"

urlpatterns = [
    path("", views.node_list, name="nodes"),
    path("add/", views.node_edit, name="node_add"),
    path("<int:node_id>/", views.node_edit, name="node_edit"),
    path("<int:node_id>/delete/", views.node_delete, name="node_delete"),
    path("check/", views.run_node_checks, name="run_checks"),
    path("<int:node_id>/history/", views.node_detail, name="node"),
    path("<int:node_id>/check/", views.run_node_checks, name="node_run_checks"),
]
