"""Read-only admin for staff. Core Ops keep the registry through the node pages."""

from django.contrib import admin

from qpgov.admin import ReadOnlyAdmin

from .models import CheckRun, Node, NodeCheck


@admin.register(Node)
class NodeAdmin(ReadOnlyAdmin):
    list_display = ["name", "environment", "role", "target", "unit", "frozen"]


@admin.register(CheckRun)
class CheckRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "trigger", "status", "stage", "created_at", "finished_at"]


@admin.register(NodeCheck)
class NodeCheckAdmin(ReadOnlyAdmin):
    list_display = ["node", "kind", "status", "note", "checked_at"]
    list_filter = ["kind", "status"]
