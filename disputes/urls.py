"""After-sales pages: buyer, merchant inbox, staff dispute console, evidence files."""

from django.urls import path

from disputes import views

urlpatterns = [
    path("orders/<int:order_id>/lines/<int:line_id>/after-sales/", views.after_sales_new, name="after_sales_new"),
    path("after-sales/", views.after_sales_list, name="after_sales_list"),
    path("after-sales/<int:request_id>/", views.after_sales_detail, name="after_sales_detail"),
    path("after-sales/<int:request_id>/accept/", views.after_sales_accept, name="after_sales_accept"),
    path("after-sales/<int:request_id>/propose/", views.after_sales_propose, name="after_sales_propose"),
    path("after-sales/<int:request_id>/reject/", views.after_sales_reject, name="after_sales_reject"),
    path(
        "after-sales/<int:request_id>/return-received/",
        views.after_sales_return_receive,
        name="after_sales_return_receive",
    ),
    path("after-sales/<int:request_id>/accept-offer/", views.after_sales_offer_accept, name="after_sales_offer_accept"),
    path("after-sales/<int:request_id>/return-sent/", views.after_sales_return_ship, name="after_sales_return_ship"),
    path("after-sales/<int:request_id>/withdraw/", views.after_sales_withdraw, name="after_sales_withdraw"),
    path("after-sales/<int:request_id>/escalate/", views.after_sales_escalate, name="after_sales_escalate"),
    path("after-sales/<int:request_id>/messages/", views.after_sales_message, name="after_sales_message"),
    path("after-sales/evidence/<int:evidence_id>/", views.evidence_file, name="evidence_file"),
    path("merchant/after-sales/", views.merchant_after_sales, name="merchant_after_sales"),
    path("staff/disputes/", views.staff_dispute_queue, name="staff_dispute_queue"),
    path("staff/disputes/<int:dispute_id>/", views.staff_dispute_detail, name="staff_dispute_detail"),
    path("staff/disputes/<int:dispute_id>/rule/", views.staff_dispute_rule, name="staff_dispute_rule"),
    path("staff/shops/<int:shop_id>/sanctions/", views.staff_sanctions, name="staff_sanctions"),
    path("staff/sanctions/<int:sanction_id>/lift/", views.staff_sanction_lift, name="staff_sanction_lift"),
    path("s/<slug:slug>/record/", views.shop_record, name="shop_record"),
]
