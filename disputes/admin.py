"""Read-only views of cases and sanctions; rulings and sanctions are made in the staff
console (/staff/disputes/), which calls the services."""

from django.contrib import admin

from disputes.models import AfterSalesRequest, CaseEvent, Dispute, Sanction
from marketplace.admin import ReadOnlyAdmin, TimelineInline


class CaseEventInline(TimelineInline):
    model = CaseEvent


@admin.register(AfterSalesRequest)
class AfterSalesRequestAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "shop", "kind", "reason", "amount_minor", "status", "deadline_at")
    list_filter = ("status", "kind", "reason")
    inlines = [CaseEventInline]


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "shop", "source", "status", "outcome", "decide_by")
    list_filter = ("status", "source", "outcome")
    inlines = [CaseEventInline]


@admin.register(Sanction)
class SanctionAdmin(ReadOnlyAdmin):
    list_display = ("id", "shop", "kind", "starts_at", "ends_at", "ended_at", "reason")
    list_filter = ("kind",)
