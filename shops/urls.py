from django.urls import path

from shops import merchant_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("products/", views.product_list, name="product_list"),
    path("c/<slug:category_slug>/", views.product_list, name="category"),
    path("search/", views.search, name="search"),
    path("p/<int:product_id>/", views.product_detail, name="product_detail"),
    path("s/<slug:slug>/", views.shop_detail, name="shop_detail"),
    path("sell/open/", merchant_views.shop_open, name="shop_open"),
    path("merchant/", merchant_views.dashboard, name="merchant_dashboard"),
    path("merchant/shop/", merchant_views.shop_edit, name="merchant_shop_edit"),
    path("merchant/products/new/", merchant_views.product_new, name="merchant_product_new"),
    path("merchant/products/<int:product_id>/", merchant_views.product_edit, name="merchant_product_edit"),
    path("merchant/products/<int:product_id>/status/", merchant_views.product_status, name="merchant_product_status"),
    path("merchant/products/<int:product_id>/photos/", merchant_views.photo_upload, name="merchant_photo_upload"),
    path(
        "merchant/products/<int:product_id>/photos/order/", merchant_views.photo_reorder, name="merchant_photo_reorder"
    ),
    path(
        "merchant/products/<int:product_id>/photos/<int:photo_id>/delete/",
        merchant_views.photo_delete,
        name="merchant_photo_delete",
    ),
    path("merchant/products/<int:product_id>/variants/", merchant_views.variant_add, name="merchant_variant_add"),
    path(
        "merchant/products/<int:product_id>/variants/<int:variant_id>/",
        merchant_views.variant_edit,
        name="merchant_variant_edit",
    ),
    path(
        "merchant/products/<int:product_id>/variants/<int:variant_id>/delete/",
        merchant_views.variant_delete,
        name="merchant_variant_delete",
    ),
    path(
        "merchant/products/<int:product_id>/variants/<int:variant_id>/archive/",
        merchant_views.variant_archive,
        name="merchant_variant_archive",
    ),
]
