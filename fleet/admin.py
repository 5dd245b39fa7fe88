"""Read-only admin for staff. Core Ops keep the registry through the node pages."""

from django.contrib import admin

from qpgov.admin import ReadOnlyAdmin

from .models import Node


@admin.register(Node)
class NodeAdmin(ReadOnlyAdmin):
    list_display = ["name", "environment", "role", "target", "unit", "frozen"]
