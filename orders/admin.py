"""Orders in the admin, read-only: status, holds and their reasons, the timeline. Holds
are placed and released by services (disputes, settlement's checks), never edited here."""

from django.contrib import admin

from marketplace.admin import ReadOnlyAdmin, TimelineInline
from orders.models import Order, OrderEvent


class OrderEventInline(TimelineInline):
    model = OrderEvent


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("id", "shop", "status", "total_minor", "refunded_minor", "is_held", "held_reason", "created_at")
    list_filter = ("status", "is_held")
    search_fields = ("held_reason", "shop__name")
    list_select_related = ("shop",)
    inlines = [OrderEventInline]
