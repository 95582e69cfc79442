from django.contrib import admin

from fraud.models import Case, CaseLink, RuleHit


class CaseLinkInline(admin.TabularInline):
    model = CaseLink
    extra = 0
    can_delete = False
    readonly_fields = ["kind", "value", "accounts"]


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    """Read-only: decisions go through the fraud console's services."""

    list_display = ["id", "status", "score", "created_at"]
    list_filter = ["status"]
    ordering = ["-created_at", "-score"]
    inlines = [CaseLinkInline]
    readonly_fields = [f.name for f in Case._meta.fields] + ["members"]

    def has_add_permission(self, request):
        return False


@admin.register(RuleHit)
class RuleHitAdmin(admin.ModelAdmin):
    list_display = ["id", "rule", "user", "line", "created_at"]
    list_filter = ["rule"]
    readonly_fields = ["rule", "user", "line", "reason", "created_at"]

    def has_add_permission(self, request):
        return False
