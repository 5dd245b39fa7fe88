"""Read-only admin views for staff. The response is driven from the incident pages."""

from django.contrib import admin

from qpgov.admin import ReadOnlyAdmin

from .models import Evidence, Incident, ResponseStep


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ["id", "title", "severity", "state", "commander", "declared_at"]
    list_filter = ["state", "severity"]


@admin.register(ResponseStep)
class ResponseStepAdmin(ReadOnlyAdmin):
    list_display = ["incident", "position", "kind", "status", "attempts", "next_attempt_at"]
    list_filter = ["status", "kind"]


@admin.register(Evidence)
class EvidenceAdmin(ReadOnlyAdmin):
    list_display = ["storage_name", "incident", "node", "kind", "size", "sha256"]
