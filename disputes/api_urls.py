"""After-sales API: requests, responses, evidence, messages, escalation; staff rulings."""

from django.urls import path

from disputes import api

urlpatterns = [
    path("after-sales/", api.AfterSalesListCreateApi.as_view(), name="api_after_sales_list"),
    path("merchant/after-sales/", api.MerchantAfterSalesListApi.as_view(), name="api_merchant_after_sales_list"),
    path("after-sales/<int:request_id>/", api.AfterSalesDetailApi.as_view(), name="api_after_sales_detail"),
    path("after-sales/<int:request_id>/accept/", api.AfterSalesAcceptApi.as_view(), name="api_after_sales_accept"),
    path("after-sales/<int:request_id>/propose/", api.AfterSalesProposeApi.as_view(), name="api_after_sales_propose"),
    path("after-sales/<int:request_id>/reject/", api.AfterSalesRejectApi.as_view(), name="api_after_sales_reject"),
    path(
        "after-sales/<int:request_id>/return-received/",
        api.AfterSalesReturnReceiveApi.as_view(),
        name="api_after_sales_return_receive",
    ),
    path(
        "after-sales/<int:request_id>/offer-accept/",
        api.AfterSalesOfferAcceptApi.as_view(),
        name="api_after_sales_offer_accept",
    ),
    path(
        "after-sales/<int:request_id>/return-ship/",
        api.AfterSalesReturnShipApi.as_view(),
        name="api_after_sales_return_ship",
    ),
    path(
        "after-sales/<int:request_id>/withdraw/", api.AfterSalesWithdrawApi.as_view(), name="api_after_sales_withdraw"
    ),
    path(
        "after-sales/<int:request_id>/escalate/", api.AfterSalesEscalateApi.as_view(), name="api_after_sales_escalate"
    ),
    path(
        "after-sales/<int:request_id>/messages/",
        api.AfterSalesMessageListCreateApi.as_view(),
        name="api_after_sales_messages",
    ),
    path(
        "after-sales/<int:request_id>/evidence/",
        api.AfterSalesEvidenceUploadApi.as_view(),
        name="api_after_sales_evidence_upload",
    ),
    path("disputes/", api.DisputeQueueApi.as_view(), name="api_dispute_queue"),
    path("disputes/<int:dispute_id>/rule/", api.DisputeRuleApi.as_view(), name="api_dispute_rule"),
]
