from django.urls import path

from referrals import views

urlpatterns = [
    path("share/p/<int:product_id>/", views.share_product, name="share_product"),
    path("share/s/<slug:slug>/", views.share_shop, name="share_shop"),
    path("share/<str:code>/", views.share_detail, name="share_detail"),
    path("r/<str:code>", views.share_landing, name="share_landing"),
    path("r/<str:code>/qr.svg", views.share_qr, name="share_qr"),
    path("r/<str:code>/poster.jpg", views.share_poster, name="share_poster"),
    path("commission-plan", views.commission_plan, name="commission_plan"),
    path("promoter/", views.promoter_centre, name="promoter_centre"),
    path("merchant/promoters/", views.merchant_top_promoters, name="merchant_top_promoters"),
    path("payouts/connect/", views.payout_account_connect, name="payout_account_connect"),
]
