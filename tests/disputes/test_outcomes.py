"""Every after-sales and dispute outcome moves exactly the right money: the ledger balances,
each order holds paid − refunded − released, and commissions shrink by exactly the refunded share."""

from datetime import timedelta

import pytest
from django.utils import timezone

from disputes import services
from disputes.models import AfterSalesRequest, Dispute
from disputes.tasks import after_sales_deadlines_task, disputes_fallback_task
from marketplace.money import bps_share
from orders.models import Order
from payments import ledger
from payments.ledger import Kind
from payments.models import Refund
from tests.factories import UserFactory
from tests.helpers import (
    books_ok,
    commission_due,
    escrow_held,
    open_request,
    photo,
    promoter_held,
    settle_due,
    settle_received,
    shipped_sale,
)

pytestmark = pytest.mark.django_db


def test_opening_a_request_holds_the_payment_and_freezes_the_commission(client):
    # given
    order, promoter = shipped_sale(client)
    commission = commission_due(order, order.total_minor)
    # when
    request = open_request(order, photos=[photo()])
    # then
    order.refresh_from_db()
    assert order.is_held and order.held_reason.startswith(services.HOLD_PREFIX)
    assert promoter_held(promoter) == (0, commission)
    assert escrow_held(order) == order.total_minor
    assert request.evidence.count() == 1 and request.status == AfterSalesRequest.Status.OPEN
    books_ok()


def test_accepted_refund_returns_everything_and_voids_the_commission(client):
    order, promoter = shipped_sale(client)
    request = open_request(order)
    services.after_sales_accept(request_id=request.pk, merchant=order.shop.owner)
    order.refresh_from_db()
    request.refresh_from_db()
    assert request.status == AfterSalesRequest.Status.REFUNDED and request.refunded_minor == order.total_minor
    assert order.refunded_minor == order.total_minor and not order.is_held
    assert escrow_held(order) == 0
    assert promoter_held(promoter) == (0, 0)
    assert Refund.objects.get(order=order).amount_minor == order.total_minor
    books_ok()


def test_accepted_offer_refunds_part_and_the_rest_settles_to_the_shop(client):
    # given
    order, promoter = shipped_sale(client, price=10_000, rate=1000)
    request = open_request(order, kind="partial_refund", reason="damaged", amount=5_000)
    services.after_sales_propose(request_id=request.pk, merchant=order.shop.owner, amount_minor=3_000, note="Sorry")
    # when
    services.after_sales_offer_accept(request_id=request.pk, buyer=order.buyer)
    # then
    order.refresh_from_db()
    kept = order.total_minor - 3_000
    commission = commission_due(order, kept)
    assert order.refunded_minor == 3_000 and not order.is_held
    assert promoter_held(promoter) == (commission, 0)
    assert escrow_held(order) == kept
    order = settle_received(order)
    assert order.status == Order.Status.SETTLED
    fee = bps_share(kept, order.platform_fee_bps)
    assert ledger.balance_of(kind=Kind.MERCHANT_AVAILABLE, shop=order.shop) == kept - fee - commission
    assert ledger.balance_of(kind=Kind.PROMOTER_AVAILABLE, user=promoter) == commission
    books_ok()


def test_return_flow_refunds_when_the_shop_receives_the_item(client):
    order, promoter = shipped_sale(client)
    request = open_request(order, kind="return_refund", reason="not_as_described", amount=order.total_minor)
    merchant = order.shop.owner
    services.after_sales_accept(request_id=request.pk, merchant=merchant, return_address="9 Return Lane, Hangzhou")
    services.after_sales_return_ship(request_id=request.pk, buyer=order.buyer, carrier="YTO", tracking_number="YT9988")
    request.refresh_from_db()
    assert request.status == AfterSalesRequest.Status.RETURN_SHIPPED
    services.after_sales_return_receive(request_id=request.pk, merchant=order.shop.owner)
    order.refresh_from_db()
    assert order.refunded_minor == order.total_minor and escrow_held(order) == 0 and not order.is_held
    assert promoter_held(promoter) == (0, 0)
    books_ok()


def test_rejected_request_escalated_and_ruled_partial_refund(client):
    # given
    order, promoter = shipped_sale(client, price=8_000)
    request = open_request(order, kind="partial_refund", reason="damaged", amount=4_000)
    services.after_sales_reject(request_id=request.pk, merchant=order.shop.owner, note="It left us intact.",
                                photos=[photo()])  # fmt: skip
    dispute = services.after_sales_escalate(request_id=request.pk, user=order.buyer, note="The box was crushed.")
    admin = UserFactory(is_staff=True)
    # when
    services.dispute_rule(dispute_id=dispute.pk, admin=admin, outcome="partial_refund", amount_minor=1_500,
                          reason="Photos show damage to one corner.")  # fmt: skip
    # then
    order.refresh_from_db()
    dispute.refresh_from_db()
    request.refresh_from_db()
    assert dispute.status == Dispute.Status.RULED and dispute.outcome_minor == 1_500
    assert request.status == AfterSalesRequest.Status.REFUNDED and request.refunded_minor == 1_500
    assert order.refunded_minor == 1_500 and not order.is_held
    kept = order.total_minor - 1_500
    assert promoter_held(promoter) == (commission_due(order, kept), 0)
    assert escrow_held(order) == kept
    books_ok()


def test_release_ruling_pays_the_shop_through_normal_settlement(client):
    order, promoter = shipped_sale(client)
    request = open_request(order)
    services.after_sales_reject(request_id=request.pk, merchant=order.shop.owner, note="Tracking shows delivered.")
    dispute = services.after_sales_escalate(request_id=request.pk, user=order.buyer, note="It never arrived here.")
    services.dispute_rule(dispute_id=dispute.pk, admin=UserFactory(is_staff=True), outcome="release",
                          reason="Carrier confirms delivery with a signature.")  # fmt: skip
    order.refresh_from_db()
    assert order.refunded_minor == 0 and not order.is_held
    order = settle_received(order)
    assert order.status == Order.Status.SETTLED
    assert escrow_held(order) == 0
    assert ledger.balance_of(kind=Kind.PROMOTER_AVAILABLE, user=promoter) == commission_due(order, order.total_minor)
    books_ok()


def test_nothing_settles_or_confirms_while_a_request_is_open(client):
    # given: the order is received and its after-sales window is over
    order, promoter = shipped_sale(client)
    open_request(order)
    Order.objects.filter(pk=order.pk).update(auto_confirm_at=timezone.now() - timedelta(days=1))
    # when
    from orders.tasks import orders_auto_confirm_task

    confirmed = orders_auto_confirm_task.apply().get()
    settled = settle_due()
    # then
    order.refresh_from_db()
    assert (confirmed, settled) == (0, 0)
    assert order.status == Order.Status.SHIPPED
    assert promoter_held(promoter)[0] == 0


@pytest.mark.parametrize(
    ("steps", "expected_status", "refunded"),
    [
        ([], "refunded", "asked"),
        (["propose"], "refunded", "offer"),
        (["reject"], "closed", 0),
        (["accept_return"], "closed", 0),
        (["accept_return", "ship_return"], "refunded", "asked"),
    ],
)
def test_each_missed_deadline_has_its_default_outcome_once(client, steps, expected_status, refunded):
    # given
    order, _ = shipped_sale(client)
    kind = "return_refund" if "accept_return" in steps else "partial_refund"
    request = open_request(order, kind=kind, reason="damaged", amount=6_000)
    merchant = order.shop.owner
    for step in steps:
        if step == "propose":
            services.after_sales_propose(request_id=request.pk, merchant=merchant, amount_minor=2_000, note="Half")
        elif step == "reject":
            services.after_sales_reject(request_id=request.pk, merchant=merchant, note="No damage on our side.")
        elif step == "accept_return":
            services.after_sales_accept(request_id=request.pk, merchant=merchant, return_address="9 Return Lane, HZ")
        elif step == "ship_return":
            services.after_sales_return_ship(request_id=request.pk, buyer=order.buyer, carrier="YTO",
                                             tracking_number="YT1234")  # fmt: skip
    AfterSalesRequest.objects.filter(pk=request.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
    # when: the sweeper runs twice
    first = after_sales_deadlines_task.apply().get()
    second = after_sales_deadlines_task.apply().get()
    # then
    request.refresh_from_db()
    order.refresh_from_db()
    expected = {"asked": 6_000, "offer": 2_000, 0: 0}[refunded]
    assert (first, second) == (1, 0)
    assert request.status == expected_status
    assert order.refunded_minor == expected and Refund.objects.filter(order=order).count() == (1 if expected else 0)
    assert not order.is_held
    books_ok()


def test_a_dispute_nobody_rules_closes_with_the_default_after_the_fallback_period(client, settings):
    settings.MARKETPLACE_DISPUTE_DEFAULT_OUTCOME = "full_refund"
    order, _ = shipped_sale(client)
    request = open_request(order, amount=4_000, kind="partial_refund", reason="damaged")
    services.after_sales_reject(request_id=request.pk, merchant=order.shop.owner, note="No damage on our side.")
    dispute = services.after_sales_escalate(request_id=request.pk, user=order.buyer, note="There is damage, see.")
    assert disputes_fallback_task.apply().get() == 0
    Dispute.objects.filter(pk=dispute.pk).update(decide_by=timezone.now() - timedelta(seconds=1))
    assert disputes_fallback_task.apply().get() == 1
    assert disputes_fallback_task.apply().get() == 0
    dispute.refresh_from_db()
    order.refresh_from_db()
    assert dispute.status == Dispute.Status.RULED and dispute.outcome == "full_refund" and dispute.ruled_by is None
    assert order.refunded_minor == 4_000 and not order.is_held
    books_ok()
