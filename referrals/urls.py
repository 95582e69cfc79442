from django.urls import path

from referrals import views

urlpatterns = [
    path("share/p/<int:product_id>/", views.share_product, name="share_product"),
]
