"""All API routes under /api/v1/."""

from django.urls import include, path

from accounts.api import TokenCreateApi

urlpatterns = [
    path("auth/token/", TokenCreateApi.as_view(), name="api_token"),
    path("", include("shops.api_urls")),
    path("", include("orders.api_urls")),
    path("", include("referrals.api_urls")),
    path("", include("disputes.api_urls")),
    path("", include("reviews.api_urls")),
]
