"""Reviews API routes."""

from django.urls import path

from reviews import api

urlpatterns = [
    path("products/<int:product_id>/reviews/", api.ProductReviewListApi.as_view(), name="api_product_reviews"),
    path("shops/<slug:slug>/reviews/", api.ShopReviewListApi.as_view(), name="api_shop_reviews"),
    path("shops/<slug:slug>/trust-card/", api.ShopTrustCardApi.as_view(), name="api_shop_trust_card"),
    path("reviews/", api.ReviewCreateApi.as_view(), name="api_review_create"),
    path("reviews/reviewable-lines/", api.ReviewableLineListApi.as_view(), name="api_reviewable_lines"),
    path("reviews/<int:review_id>/", api.ReviewDetailApi.as_view(), name="api_review_detail"),
    path("reviews/<int:review_id>/follow-up/", api.ReviewFollowUpApi.as_view(), name="api_review_follow_up"),
    path("reviews/<int:review_id>/reply/", api.ReviewReplyApi.as_view(), name="api_review_reply"),
    path("reviews/<int:review_id>/vote/", api.ReviewVoteApi.as_view(), name="api_review_vote"),
]
