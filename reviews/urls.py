"""Review pages, the merchant inbox and trust card, the policy page, staff moderation."""

from django.urls import path

from reviews import staff_views, views

urlpatterns = [
    path("reviews/policy/", views.review_policy, name="review_policy"),
    path("reviews/mine/", views.my_reviews, name="my_reviews"),
    path("reviews/new/<int:line_id>/", views.review_new, name="review_new"),
    path("reviews/<int:review_id>/", views.review_detail, name="review_detail"),
    path("reviews/<int:review_id>/edit/", views.review_edit, name="review_edit"),
    path("reviews/<int:review_id>/follow-up/", views.review_follow_up, name="review_follow_up"),
    path("reviews/<int:review_id>/reply/", views.review_reply, name="review_reply"),
    path("reviews/<int:review_id>/vote/", views.review_vote, name="review_vote"),
    path("reviews/<int:review_id>/delete/", views.review_delete, name="review_delete"),
    path("p/<int:product_id>/reviews/", views.product_reviews, name="product_reviews"),
    path("s/<slug:slug>/reviews/", views.shop_reviews, name="shop_reviews"),
    path("s/<slug:slug>/report-reward/", views.reward_report, name="reward_report"),
    path("merchant/reviews/", views.merchant_reviews, name="merchant_reviews"),
    path("merchant/trust/", views.merchant_trust, name="merchant_trust"),
    path("staff/reviews/<int:review_id>/fold/", staff_views.staff_review_fold, name="staff_review_fold"),
    path("staff/reviews/<int:review_id>/unfold/", staff_views.staff_review_unfold, name="staff_review_unfold"),
    path("staff/review-reports/", staff_views.staff_reward_reports, name="staff_reward_reports"),
    path(
        "staff/review-reports/<int:report_id>/close/",
        staff_views.staff_reward_report_close,
        name="staff_reward_report_close",
    ),
]
