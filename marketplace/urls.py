from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from accounts.views import LoginWithLockoutView, admin_login
from marketplace import views

handler404 = "marketplace.views.error_404"
handler500 = "marketplace.views.error_500"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("bench/baseline", views.baseline, name="baseline"),
    path("admin/login/", admin_login, name="admin_login"),
    path("admin/", admin.site.urls),
    path("accounts/login/", LoginWithLockoutView.as_view(), name="account_login"),
    path("accounts/", include("allauth.urls")),
    path("me/", views.account, name="account"),
    path("api/v1/", include("marketplace.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api_schema"), name="api_redoc"),
    path("", include("disputes.urls")),
    path("", include("fraud.urls")),
    path("", include("orders.urls")),
    path("", include("payments.urls")),
    path("", include("referrals.urls")),
    path("", include("reviews.urls")),
    path("", include("shops.urls")),
]

if settings.SERVE_MEDIA:
    urlpatterns += [path("media/<path:path>", serve, {"document_root": settings.MEDIA_ROOT})]
