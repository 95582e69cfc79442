from django.urls import path

from orders import api

urlpatterns = [
    path("cart/", api.CartApi.as_view(), name="api_cart"),
    path("cart/items/", api.CartItemsApi.as_view(), name="api_cart_items"),
    path("cart/items/<int:variant_id>/", api.CartItemDetailApi.as_view(), name="api_cart_item_detail"),
    path("cart/prices/accept/", api.CartPricesAcceptApi.as_view(), name="api_cart_prices_accept"),
    path("checkout/", api.CheckoutApi.as_view(), name="api_checkout"),
    path("orders/", api.OrderListApi.as_view(), name="api_order_list"),
    path("orders/<int:order_id>/", api.OrderDetailApi.as_view(), name="api_order_detail"),
    path("orders/<int:order_id>/confirm/", api.OrderConfirmApi.as_view(), name="api_order_confirm"),
    path("orders/<int:order_id>/cancel/", api.OrderCancelApi.as_view(), name="api_order_cancel"),
    path("merchant/orders/", api.MerchantOrderListApi.as_view(), name="api_merchant_order_list"),
    path("merchant/orders/<int:order_id>/", api.MerchantOrderDetailApi.as_view(), name="api_merchant_order_detail"),
    path("merchant/orders/<int:order_id>/ship/", api.MerchantOrderShipApi.as_view(), name="api_merchant_order_ship"),
]
