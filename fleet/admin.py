"""Admin for staff: nodes read-only (Core Ops keep the registry through the node pages);
alert receivers (tokens) and alert rules are kept here; what came in is read-only."""

from django.contrib import admin, messages

from qpgov.admin import ReadOnlyAdmin

from . import alert_policy
from .models import (
    AlertDelivery,
    AlertGroup,
    AlertReceiver,
    AlertRule,
    CheckRun,
    MonitoringSilence,
    Node,
    NodeCheck,
)


@admin.register(Node)
class NodeAdmin(ReadOnlyAdmin):
    list_display = ["name", "environment", "role", "target", "unit", "frozen"]


# --- Alerts -------------------------------------------------------------------------------


@admin.register(AlertReceiver)
class AlertReceiverAdmin(admin.ModelAdmin):
    """Staff create receivers and rotate their tokens; a token is shown once, then only its hash
    is kept. Every change goes through fleet.alert_policy, which logs it (never the token)."""

    list_display = ["name", "active", "created_at", "token_rotated_at"]
    readonly_fields = ["token_rotated_at"]
    fields = ["name", "active", "token_rotated_at"]
    actions = ["rotate_token"]

    def save_model(self, request, obj, form, change):
        token = obj.issue_token() if not change else None
        alert_policy.save_receiver(obj, request.user, token_issued=token is not None)
        if token:
            self._show_once(request, obj, token)

    def delete_model(self, request, obj):
        alert_policy.delete_receiver(obj, request.user)

    def delete_queryset(self, request, queryset):
        for receiver in queryset:
            alert_policy.delete_receiver(receiver, request.user)

    @admin.action(description="Rotate the token (the old one stops working at once)")
    def rotate_token(self, request, queryset):
        for receiver in queryset:
            self._show_once(request, receiver, alert_policy.rotate_token(receiver, request.user))

    def _show_once(self, request, receiver, token):
        messages.warning(request, f"Bearer token for {receiver.name}: {token} — copy it into "
                                  "Alertmanager's http_config.authorization now; it is not shown again.")


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    """Rules decide what an alert declares with nobody looking: each change is logged
    (fleet.alert_policy), with who made it and the values before and after."""

    list_display = ["alertname", "environment", "node_role", "action", "severity", "description"]
    list_filter = ["action", "severity", "environment", "node_role"]

    def save_model(self, request, obj, form, change):
        alert_policy.save_rule(obj, request.user)

    def delete_model(self, request, obj):
        alert_policy.delete_rule(obj, request.user)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            alert_policy.delete_rule(rule, request.user)


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "receiver", "received_at", "status", "attempts", "alert_count", "group",
                    "body_bytes", "body_pruned_at"]
    list_filter = ["status"]


@admin.register(AlertGroup)
class AlertGroupAdmin(ReadOnlyAdmin):
    list_display = ["id", "title", "status", "incomplete", "awaiting_confirmation", "last_received_at"]


@admin.register(MonitoringSilence)
class MonitoringSilenceAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "detected_at", "ended_at"]


@admin.register(CheckRun)
class CheckRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "trigger", "status", "stage", "created_at", "finished_at"]


@admin.register(NodeCheck)
class NodeCheckAdmin(ReadOnlyAdmin):
    list_display = ["node", "kind", "status", "note", "checked_at"]
    list_filter = ["kind", "status"]
