from django.urls import path

from referrals import api

urlpatterns = [
    path("shares/", api.ShareListCreateApi.as_view(), name="api_shares"),
    path("shares/<str:code>/landing/", api.ShareLandingApi.as_view(), name="api_share_landing"),
    path("promoter/earnings/", api.EarningsApi.as_view(), name="api_promoter_earnings"),
    path("promoter/payouts/", api.PayoutListApi.as_view(), name="api_promoter_payouts"),
]
