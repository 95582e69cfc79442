"""Stripe chargebacks (charge.dispute.created / closed) through the real webhook endpoint."""

import pytest

from disputes.models import Dispute
from orders.models import Order
from payments import ledger
from payments.ledger import Kind
from payments.models import Refund, WebhookEvent
from payments.tasks import webhook_event_handle_task
from tests.helpers import (
    books_ok,
    chargeback_event,
    commission_due,
    escrow_held,
    paid_sale,
    promoter_held,
    settle_received,
    shipped_sale,
)

pytestmark = pytest.mark.django_db


def _deliver(client, body, signature):
    response = client.post(
        "/payments/stripe/webhook/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    assert response.status_code == 200, response.content
    row = WebhookEvent.objects.order_by("-pk").first()
    webhook_event_handle_task.apply(args=[row.pk])
    return row


def test_chargeback_before_release_holds_then_lost_takes_it_out_of_escrow(client):
    # given
    order, promoter = shipped_sale(client)
    body, signature, dispute_id = chargeback_event(order, kind="charge.dispute.created", amount=order.total_minor)
    # when the chargeback opens (delivered twice: the second changes nothing)
    _deliver(client, body, signature)
    client.post(
        "/payments/stripe/webhook/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    # then
    order.refresh_from_db()
    assert order.is_held and Dispute.objects.filter(order=order, source="chargeback").count() == 1
    assert promoter_held(promoter) == (0, commission_due(order, order.total_minor))
    # when it is lost
    body, signature, _ = chargeback_event(
        order, kind="charge.dispute.closed", amount=order.total_minor, status="lost", dispute_id=dispute_id
    )
    row = _deliver(client, body, signature)
    # then
    order.refresh_from_db()
    assert WebhookEvent.objects.get(pk=row.pk).status == "succeeded"
    assert order.refunded_minor == order.total_minor and escrow_held(order) == 0 and not order.is_held
    assert promoter_held(promoter) == (0, 0)
    refund = Refund.objects.get(order=order)
    assert refund.kind == Refund.Kind.CHARGEBACK and refund.status == Refund.Status.SUCCEEDED
    assert Dispute.objects.get(order=order).outcome == "chargeback_lost"
    books_ok()


def test_chargeback_won_releases_the_hold_and_moves_nothing(client):
    order, promoter = shipped_sale(client)
    body, signature, dispute_id = chargeback_event(order, kind="charge.dispute.created", amount=order.total_minor)
    _deliver(client, body, signature)
    body, signature, _ = chargeback_event(
        order, kind="charge.dispute.closed", amount=order.total_minor, status="won", dispute_id=dispute_id
    )
    _deliver(client, body, signature)
    order.refresh_from_db()
    assert not order.is_held and order.refunded_minor == 0 and escrow_held(order) == order.total_minor
    assert Dispute.objects.get(order=order).outcome == "chargeback_won"
    assert not Refund.objects.filter(order=order).exists()
    books_ok()


def test_chargeback_lost_after_release_leaves_a_debt_on_the_merchant(client):
    # given: the order settled and the shop's money is available
    order, promoter = shipped_sale(client)
    order = settle_received(order)
    assert order.status == Order.Status.SETTLED
    available = ledger.balance_of(kind=Kind.MERCHANT_AVAILABLE, shop=order.shop)
    commission = ledger.balance_of(kind=Kind.PROMOTER_AVAILABLE, user=promoter)
    # when a chargeback comes and is lost
    body, signature, dispute_id = chargeback_event(order, kind="charge.dispute.created", amount=order.total_minor)
    _deliver(client, body, signature)
    assert Dispute.objects.get(order=order).chargeback_after_release
    body, signature, _ = chargeback_event(
        order, kind="charge.dispute.closed", amount=order.total_minor, status="lost", dispute_id=dispute_id
    )
    _deliver(client, body, signature)
    # then the shop and the promoter each owe back exactly their part
    assert ledger.balance_of(kind=Kind.MERCHANT_AVAILABLE, shop=order.shop) == 0
    assert ledger.balance_of(kind=Kind.PROMOTER_AVAILABLE, user=promoter) == 0
    assert available > 0 and commission > 0
    books_ok()


def test_a_chargeback_for_an_unknown_payment_is_ignored(client):
    order, _ = shipped_sale(client)
    order.group.payment_intent_id = "pi_unknown"
    body, signature, _ = chargeback_event(order, kind="charge.dispute.created", amount=100)
    row = _deliver(client, body, signature)
    assert WebhookEvent.objects.get(pk=row.pk).status == "ignored"
    assert not Dispute.objects.exists()


def test_a_chargeback_lost_in_full_before_shipping_cancels_the_order(client):
    # given a paid order the shop has not shipped
    order, _ = paid_sale(client)
    stock = order.lines.get().variant.stock
    body, signature, dispute_id = chargeback_event(order, kind="charge.dispute.created", amount=order.total_minor)
    _deliver(client, body, signature)
    # when the chargeback is lost
    body, signature, _ = chargeback_event(
        order, kind="charge.dispute.closed", amount=order.total_minor, status="lost", dispute_id=dispute_id
    )
    _deliver(client, body, signature)
    # then the order can no longer be shipped and its stock is back on sale
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert order.lines.get().variant.stock == stock + order.lines.get().quantity
    assert Refund.objects.filter(order=order).count() == 1
    books_ok()
