from django.contrib import admin

from .models import Event


class ReadOnlyAdmin(admin.ModelAdmin):
    """Staff may look but not touch: these rows change only through the services,
    which check the rules and write the event log; the admin must not bypass them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    """The log is append-only, even for staff."""

    list_display = ("seq", "subject_type", "subject_id", "kind", "actor_name", "recorded_at")
    list_filter = ("subject_type", "kind")
    search_fields = ("note", "actor_name")
