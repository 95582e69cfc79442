"""Commissions through the ledger (pending → frozen → available → paid out) and payouts."""

import pytest
from django.db import transaction

from orders.models import Order
from payments import ledger
from payments import services as payment_services
from payments.ledger import Kind
from payments.models import LedgerTransaction, Payout
from payments.selectors import promoter_balances
from payments.services import (
    payout_account_connect,
    payout_hold_lift,
    payout_hold_place,
    payouts_run,
    payouts_submit,
    reconcile,
    refund_create,
)
from referrals import services
from referrals.models import CommissionRefusal
from tests.factories import UserFactory, make_product
from tests.helpers import pay, place, settle_due, ship_confirm_and_age

pytestmark = pytest.mark.django_db


def _transfers(http) -> int:
    return sum(1 for method, path in http.requests if (method, path) == ("POST", "/v1/transfers"))


def _sale(client, *, price=10_000, rate=1000, promoter=None, buyer=None, quantity=1, card="pm_card_visa"):
    """A paid order of one product shared by `promoter`; returns (order, promoter)."""
    product = make_product(price_minor=price, commission_bps=rate, stock=50)
    promoter = promoter or UserFactory()
    share = services.share_create(promoter=promoter, product=product)
    group = place(buyer or UserFactory(), (product.variants.get(), quantity), shares_by_product={product.pk: share})
    group = pay(client, group, card=card)
    return group.orders.get(), promoter


def test_a_commission_is_pending_when_paid_frozen_by_a_hold_and_available_at_settlement(client):
    order, promoter = _sale(client)
    assert promoter_balances(user=promoter)["pending"] == 1000

    payment_services.order_hold(
        order_id=order.pk, held_by=Order.HeldBy.BUYER_PROTECTION, reason="After-sales request opened"
    )
    assert (promoter_balances(user=promoter)["pending"], promoter_balances(user=promoter)["frozen"]) == (0, 1000)
    assert reconcile().ok

    payment_services.order_release_hold(order_id=order.pk, note="Request withdrawn")
    assert (promoter_balances(user=promoter)["pending"], promoter_balances(user=promoter)["frozen"]) == (1000, 0)

    ship_confirm_and_age(order)
    assert settle_due() == 1
    assert promoter_balances(user=promoter) == {
        "pending": 0, "frozen": 0, "available": 1000, "in_transit": 0, "paid_out": 0,
    }  # fmt: skip
    assert reconcile().ok


def test_a_held_order_is_not_settled_and_its_commission_stays_frozen(client):
    order, promoter = _sale(client)
    ship_confirm_and_age(order)
    payment_services.order_hold(order_id=order.pk, held_by=Order.HeldBy.BUYER_PROTECTION, reason="Dispute")
    assert settle_due() == 0
    assert promoter_balances(user=promoter)["frozen"] == 1000
    assert promoter_balances(user=promoter)["available"] == 0


def test_a_refund_before_settlement_voids_the_refunded_part_of_the_commission(client):
    # 2 × 50.00 at 10%: commission 10.00; refund one item (50.00 of the 100.00 paid + shipping 0)
    order, promoter = _sale(client, price=5_000, quantity=2)
    assert promoter_balances(user=promoter)["pending"] == 1000
    with transaction.atomic():
        refund_create(order=order, amount_minor=order.total_minor // 2, reason="One item returned")
    kept = order.total_minor - order.total_minor // 2
    expected = (10_000 * kept // order.total_minor) * 1000 // 10_000
    assert promoter_balances(user=promoter)["pending"] == expected
    assert reconcile().ok

    order.refresh_from_db()
    ship_confirm_and_age(order)
    assert settle_due() == 1
    assert promoter_balances(user=promoter)["available"] == expected
    assert reconcile().ok


def test_payouts_pay_each_payee_once_and_a_second_run_pays_nobody(client, stripe_fake):
    order, promoter = _sale(client, price=150_000)
    payout_account_connect(user=promoter)
    payout_account_connect(shop=order.shop)
    ship_confirm_and_age(order)
    settle_due()
    shop_available = ledger.balance_of(kind=Kind.MERCHANT_AVAILABLE, shop=order.shop)

    ids = payouts_run(minimum_minor=10_000)
    assert sorted(Payout.objects.filter(pk__in=ids).values_list("amount_minor", flat=True)) == sorted(
        [15_000, shop_available]
    )
    assert promoter_balances(user=promoter)["in_transit"] == 15_000
    assert payouts_submit(payout_ids=ids) == {"paid": 2, "failed": 0, "waiting": 0}
    assert promoter_balances(user=promoter)["paid_out"] == 15_000
    assert promoter_balances(user=promoter)["available"] == 0
    assert _transfers(stripe_fake) == 2

    # a second run and a repeated submission change nothing and call Stripe no more
    assert payouts_run(minimum_minor=10_000) == []
    assert payouts_submit(payout_ids=ids) == {"paid": 0, "failed": 0, "waiting": 0}
    assert _transfers(stripe_fake) == 2
    assert reconcile().ok


def test_a_balance_under_the_minimum_waits(client):
    order, promoter = _sale(client, price=10_000)
    payout_account_connect(user=promoter)
    ship_confirm_and_age(order)
    settle_due()
    assert payouts_run(minimum_minor=1001) == []
    assert not Payout.objects.filter(user=promoter).exists()
    assert promoter_balances(user=promoter)["available"] == 1000


def test_a_refused_transfer_fails_the_payout_and_returns_the_money_with_the_reason(client):
    order, promoter = _sale(client, price=150_000)
    promoter.stripe_account_id = "acct_closed_long_ago"
    promoter.save(update_fields=["stripe_account_id"])
    ship_confirm_and_age(order)
    settle_due()

    ids = payouts_run(minimum_minor=100)
    payouts_submit(payout_ids=ids)
    payout = Payout.objects.get(user=promoter)
    assert payout.status == Payout.Status.FAILED
    assert "No such destination" in payout.failure_reason
    assert promoter_balances(user=promoter)["available"] == 15_000
    assert promoter_balances(user=promoter)["in_transit"] == 0
    assert reconcile().ok


def test_a_payout_hold_skips_the_payee_until_lifted(client, admin_user):
    order, promoter = _sale(client, price=150_000)
    payout_account_connect(user=promoter)
    ship_confirm_and_age(order)
    settle_due()
    hold = payout_hold_place(reason="Referral ring under review", user=promoter, by=admin_user)

    payouts_run(minimum_minor=100)
    assert not Payout.objects.filter(user=promoter).exists()
    payout_hold_lift(hold_id=hold.pk)
    payouts_run(minimum_minor=100)
    assert Payout.objects.get(user=promoter).amount_minor == 15_000


def test_a_refund_after_payout_leaves_the_promoter_owing_exactly_the_clawback_and_the_next_payout_nets_it(client):
    order, promoter = _sale(client, price=150_000)
    payout_account_connect(user=promoter)
    ship_confirm_and_age(order)
    settle_due()
    payouts_submit(payout_ids=payouts_run(minimum_minor=100))
    assert promoter_balances(user=promoter)["paid_out"] == 15_000

    # a third of the order is refunded after the payout
    order.refresh_from_db()
    refund = order.total_minor // 3
    with transaction.atomic():
        refund_create(order=order, amount_minor=refund, reason="Chargeback")
    kept = order.total_minor - refund
    clawed = 15_000 - (150_000 * kept // order.total_minor) * 1000 // 10_000
    assert promoter_balances(user=promoter)["available"] == -clawed
    assert reconcile().ok
    # negative balances are never paid out
    assert not Payout.objects.filter(user=promoter, status=Payout.Status.IN_TRANSIT).exists()
    payouts_run(minimum_minor=100)
    assert not Payout.objects.filter(user=promoter, status=Payout.Status.IN_TRANSIT).exists()

    # the next sale's commission pays the debt first
    order2, _ = _sale(client, price=300_000, promoter=promoter)
    ship_confirm_and_age(order2)
    settle_due()
    ids = payouts_run(minimum_minor=100)
    assert Payout.objects.get(pk__in=ids, user=promoter).amount_minor == 30_000 - clawed
    assert reconcile().ok


def test_paying_with_the_sharers_card_earns_nothing_and_says_why(client):
    # the promoter once paid with the Visa test card (fingerprint fp_local_visa)
    promoter = UserFactory()
    own, _ = _sale(client, promoter=UserFactory(), buyer=promoter, card="pm_card_visa")
    # a "friend" pays with the same card through the promoter's link
    order, _ = _sale(client, promoter=promoter, card="pm_card_visa")
    assert promoter_balances(user=promoter)["pending"] == 0
    assert CommissionRefusal.objects.get(order_group=order.group).reason == CommissionRefusal.Reason.SAME_CARD
    assert order.lines.get().commission_bps == 0
    # a different card pays the commission
    order3, _ = _sale(client, promoter=promoter, card="pm_card_mastercard")
    assert promoter_balances(user=promoter)["pending"] == 1000
    assert reconcile().ok


def test_settlement_posts_merchant_platform_and_commission_in_one_balanced_transaction(client):
    order, promoter = _sale(client, price=12_345, rate=1500)
    ship_confirm_and_age(order)
    settle_due()
    txn = LedgerTransaction.objects.get(kind="settlement")
    amounts = {entry.account.kind: entry.amount_minor for entry in txn.entries.select_related("account")}
    assert sum(txn.entries.values_list("amount_minor", flat=True)) == 0
    fee = order.total_minor * 500 // 10_000
    commission = 12_345 * 1500 // 10_000
    assert amounts[Kind.PLATFORM_FEES] == fee
    assert amounts[Kind.PROMOTER_AVAILABLE] == commission
    assert amounts[Kind.MERCHANT_AVAILABLE] == order.total_minor - fee - commission
    assert amounts[Kind.PROMOTER_PENDING] == -commission
