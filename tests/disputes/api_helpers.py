"""Shared steps for the after-sales API tests: clients acting as someone, a request opened
through the service, and a snapshot of everything a refused call must leave unchanged."""

from rest_framework.test import APIClient

from disputes import services
from disputes.models import AfterSalesRequest, Dispute, Evidence, Message
from payments.models import Refund

DESCRIPTION = "The parcel never arrived at my door."


def as_user(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def open_request(order, *, kind="refund_only", reason="not_received", amount=None) -> AfterSalesRequest:
    return services.after_sales_open(
        buyer=order.buyer, line_id=order.lines.get().pk, kind=kind, reason=reason, description=DESCRIPTION,
        amount_minor=amount or order.total_minor,
    )  # fmt: skip


def state(order) -> tuple:
    """The order's requests (status, refunded), its refunds and hold, and every case row count."""
    order.refresh_from_db()
    requests = AfterSalesRequest.objects.filter(order=order).order_by("pk").values_list("status", "refunded_minor")
    return (
        tuple(requests), order.refunded_minor, order.is_held, Refund.objects.count(), Dispute.objects.count(),
        Message.objects.count(), Evidence.objects.count(),
    )  # fmt: skip


def error(response) -> dict:
    return response.json()["error"]
