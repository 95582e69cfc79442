from django.contrib import admin, messages

from shops import services
from shops.models import Category, Product, ProductPhoto, Shop, Variant


@admin.register(Shop)
class ShopAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "owner", "status", "is_verified", "created_at"]
    list_filter = ["status", "is_verified"]
    search_fields = ["name", "slug", "owner__email"]
    readonly_fields = ["status", "suspended_reason", "is_verified", "verified_at", "created_at"]
    actions = ["verify", "suspend", "reinstate"]

    @admin.action(description="Verify selected shops")
    def verify(self, request, queryset):
        for shop in queryset:
            services.shop_verify(shop_id=shop.pk)
        messages.success(request, f"Verified {queryset.count()} shop(s).")

    @admin.action(description="Suspend selected shops (products leave browse)")
    def suspend(self, request, queryset):
        for shop in queryset:
            services.shop_suspend(shop_id=shop.pk, reason="Suspended by the marketplace pending review.")
        messages.warning(request, f"Suspended {queryset.count()} shop(s).")

    @admin.action(description="Reinstate selected shops")
    def reinstate(self, request, queryset):
        for shop in queryset:
            services.shop_reinstate(shop_id=shop.pk)
        messages.success(request, f"Reinstated {queryset.count()} shop(s).")


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "parent", "position"]
    list_filter = ["parent"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0
    readonly_fields = ["name", "sku", "price_minor", "stock", "is_active"]
    can_delete = False


class PhotoInline(admin.TabularInline):
    model = ProductPhoto
    extra = 0
    fields = ["position", "status", "original"]
    readonly_fields = fields
    can_delete = False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["title", "shop", "status", "price_minor", "stock_total", "commission_bps", "is_featured"]
    list_filter = ["status", "is_featured", "shop", "category"]
    search_fields = ["title", "shop__name", "variants__sku"]
    list_select_related = ["shop"]
    readonly_fields = [
        "shop",
        "status",
        "price_minor",
        "stock_total",
        "commission_bps",
        "cover_photo",
        "created_at",
        "updated_at",
    ]
    fields = [
        "shop",
        "title",
        "category",
        "status",
        "price_minor",
        "stock_total",
        "commission_bps",
        "is_featured",
        "cover_photo",
        "created_at",
        "updated_at",
    ]
    inlines = [VariantInline, PhotoInline]
