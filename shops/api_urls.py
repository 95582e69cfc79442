from django.urls import path

from shops import api

urlpatterns = [
    path("shops/", api.ShopListApi.as_view(), name="api_shop_list"),
    path("shops/<slug:slug>/", api.ShopDetailApi.as_view(), name="api_shop_detail"),
    path("categories/", api.CategoryListApi.as_view(), name="api_category_list"),
    path("products/", api.ProductListApi.as_view(), name="api_product_list"),
    path("products/search/", api.ProductSearchApi.as_view(), name="api_product_search"),
    path("products/<int:product_id>/", api.ProductDetailApi.as_view(), name="api_product_detail"),
    path("merchant/shop/", api.MerchantShopApi.as_view(), name="api_merchant_shop"),
    path("merchant/products/", api.MerchantProductListApi.as_view(), name="api_merchant_product_list"),
    path(
        "merchant/products/<int:product_id>/",
        api.MerchantProductDetailApi.as_view(),
        name="api_merchant_product_detail",
    ),
    path(
        "merchant/products/<int:product_id>/status/",
        api.MerchantProductStatusApi.as_view(),
        name="api_merchant_product_status",
    ),
    path(
        "merchant/products/<int:product_id>/photos/",
        api.MerchantPhotoUploadApi.as_view(),
        name="api_merchant_photo_upload",
    ),
    path(
        "merchant/products/<int:product_id>/photos/<int:photo_id>/",
        api.MerchantPhotoDetailApi.as_view(),
        name="api_merchant_photo_detail",
    ),
    path(
        "merchant/products/<int:product_id>/variants/",
        api.MerchantVariantListApi.as_view(),
        name="api_merchant_variant_list",
    ),
    path(
        "merchant/products/<int:product_id>/variants/<int:variant_id>/",
        api.MerchantVariantDetailApi.as_view(),
        name="api_merchant_variant_detail",
    ),
    path(
        "merchant/products/<int:product_id>/variants/<int:variant_id>/archive/",
        api.MerchantVariantArchiveApi.as_view(),
        name="api_merchant_variant_archive",
    ),
]
