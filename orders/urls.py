from django.urls import path

from orders import views

urlpatterns = [
    path("cart/", views.cart, name="cart"),
    path("cart/add/", views.cart_add, name="cart_add"),
    path("cart/update/", views.cart_update, name="cart_update"),
    path("cart/remove/", views.cart_remove, name="cart_remove"),
    path("checkout/", views.checkout, name="checkout"),
    path("pay/<int:group_id>/", views.pay, name="pay"),
    path("pay/<int:group_id>/done/", views.order_group_done, name="order_group_done"),
    path("orders/", views.orders, name="orders"),
    path("orders/<int:order_id>/", views.order_detail, name="order_detail"),
    path("orders/<int:order_id>/confirm/", views.order_confirm, name="order_confirm"),
    path("orders/<int:order_id>/cancel/", views.order_cancel, name="order_cancel"),
    path("merchant/orders/", views.merchant_orders, name="merchant_orders"),
    path("merchant/orders/<int:order_id>/", views.merchant_order_detail, name="merchant_order_detail"),
    path("merchant/earnings/", views.merchant_earnings, name="merchant_earnings"),
]
