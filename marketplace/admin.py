"""Admin base classes the apps share: records written by services only, looked at here."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """The books and timelines are written by services only; the admin looks."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TimelineInline(admin.TabularInline):
    """A read-only timeline of events (orders' and cases'): written by services only."""

    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "actor", "note")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False
