from django.urls import path

from . import views

app_name = "fleet"

urlpatterns = [
    path("", views.node_list, name="nodes"),
    path("add/", views.node_edit, name="node_add"),
    path("<int:node_id>/", views.node_edit, name="node_edit"),
    path("<int:node_id>/delete/", views.node_delete, name="node_delete"),
]
