"""Money in the admin: read-only books, payouts with retry and hold, payout holds."""

from django.contrib import admin, messages

from marketplace.admin import ReadOnlyAdmin
from payments import services
from payments.models import LedgerTransaction, Payout, PayoutHold, Refund, StaffAlert, WebhookEvent


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "idempotency_key", "order", "created_at")
    list_filter = ("kind",)
    search_fields = ("idempotency_key",)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("stripe_id", "type", "status", "attempts", "error", "received_at", "handled_at")
    list_filter = ("status", "type")
    search_fields = ("stripe_id",)


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "amount_minor", "status", "reason", "created_at")
    list_filter = ("status",)


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = ("id", "payee", "amount_minor", "status", "failure_reason", "created_at", "finished_at")
    list_filter = ("status",)
    search_fields = ("shop__name", "user__email", "stripe_transfer_id")
    list_select_related = ("shop", "user")
    actions = ("retry", "hold")

    @admin.action(description="Retry now: pay these payees' available balances again")
    def retry(self, request, queryset):
        rows = list(queryset.values_list("shop_id", "user_id"))
        ids = services.payouts_run(
            shop_ids=[s for s, _ in rows if s], user_ids=[u for _, u in rows if u], minimum_minor=1
        )
        self.message_user(request, f"{len(ids)} payout(s) opened; payees with a payout in transit were skipped.")

    @admin.action(description="Hold payouts to these payees (fraud review)")
    def hold(self, request, queryset):
        for payout in queryset.select_related("shop", "user"):
            services.payout_hold_place(
                reason=f"Held by {request.user.email} from payout {payout.pk}",
                shop=payout.shop,
                user=payout.user,
                by=request.user,
            )
        self.message_user(request, "Held. Lift a hold under Payout holds.", messages.WARNING)


@admin.register(PayoutHold)
class PayoutHoldAdmin(admin.ModelAdmin):
    list_display = ("id", "shop", "user", "reason", "created_by", "created_at", "lifted_at")
    list_filter = (("lifted_at", admin.EmptyFieldListFilter),)
    autocomplete_fields = ("shop", "user")
    fields = ("shop", "user", "reason")
    actions = ("lift",)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Lift the selected holds")
    def lift(self, request, queryset):
        for pk in queryset.values_list("pk", flat=True):
            services.payout_hold_lift(hold_id=pk)
        self.message_user(request, "Lifted; the next payout run includes these payees.")


@admin.register(StaffAlert)
class StaffAlertAdmin(ReadOnlyAdmin):
    list_display = ("title", "kind", "subject_ref", "created_at", "resolved_at")
    list_filter = ("kind", ("resolved_at", admin.EmptyFieldListFilter))
    actions = ["resolve"]

    @admin.action(description="Mark resolved")
    def resolve(self, request, queryset):
        for alert_id in queryset.values_list("pk", flat=True):
            services.staff_alert_resolve(alert_id=alert_id)
        messages.success(request, "Resolved.")
