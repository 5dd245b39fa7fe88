"""Read-only admin views for staff. The response is driven from the incident pages."""

from django.contrib import admin

from .models import Evidence, Incident, Node, ResponseStep


class ReadOnly(admin.ModelAdmin):
    # Incidents, steps and evidence change only through incidents.services and
    # the step tasks, which write the timeline; the admin must not bypass them.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(ReadOnly):
    list_display = ["id", "title", "severity", "state", "commander", "declared_at"]
    list_filter = ["state", "severity"]


@admin.register(ResponseStep)
class ResponseStepAdmin(ReadOnly):
    list_display = ["incident", "position", "kind", "status", "attempts", "next_attempt_at"]
    list_filter = ["status", "kind"]


@admin.register(Evidence)
class EvidenceAdmin(ReadOnly):
    list_display = ["storage_name", "incident", "node", "kind", "size", "sha256"]


@admin.register(Node)
class NodeAdmin(ReadOnly):
    list_display = ["name", "environment", "role", "target", "unit", "frozen"]
