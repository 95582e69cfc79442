"""Read-only admin: reviews are folded from the review page (with a recorded reason) and never
deleted; reward reports are handled in the staff console."""

from django.contrib import admin

from reviews.models import Review, ReviewModeration, RewardReport, ShopCreditHistory


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ("id", "product", "shop", "stars", "connection", "is_folded", "fold_reason", "created_at")
    list_filter = ("is_folded", "connection", "stars")
    search_fields = ("text",)


@admin.register(ReviewModeration)
class ReviewModerationAdmin(ReadOnlyAdmin):
    list_display = ("review", "action", "reason", "staff", "note", "created_at")


@admin.register(RewardReport)
class RewardReportAdmin(ReadOnlyAdmin):
    list_display = ("shop", "reporter", "status", "created_at")


@admin.register(ShopCreditHistory)
class ShopCreditHistoryAdmin(ReadOnlyAdmin):
    list_display = ("shop", "month", "level", "is_trusted", "miss")
    list_filter = ("month", "is_trusted")
