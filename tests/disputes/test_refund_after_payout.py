"""Chargebacks after the money was released and paid out: the merchant and the promoter each
owe back exactly their part, the platform its fee, and later payouts net the debt first."""

import pytest

from disputes import services
from disputes.models import Dispute
from marketplace.money import bps_share
from orders.models import Order
from payments import ledger
from payments.ledger import Kind
from payments.models import Payout, Refund
from payments.selectors import merchant_balances, promoter_balances
from payments.services import payout_account_connect, payouts_run, payouts_submit
from referrals import services as referral_services
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import books_ok, pay, place, settle_received

pytestmark = pytest.mark.django_db

RATE = 1000  # 10% commission
FEE = 500  # the default platform fee, 5%


def _sale(client, *, shop, promoter, price, buyer=None):
    """A paid, shipped, received and settled order of one product `promoter` shared."""
    product = make_product(shop=shop, price_minor=price, commission_bps=RATE, stock=5)
    share = referral_services.share_create(promoter=promoter, product=product)
    group = pay(
        client, place(buyer or UserFactory(), (product.variants.get(), 1), shares_by_product={product.pk: share})
    )
    order = group.orders.get()
    from orders import services as order_services

    order_services.order_ship(order_id=order.pk, merchant=shop.owner, carrier="SF", tracking_number="SF12345")
    return settle_received(order)


def _parts(total: int, refunded: int = 0) -> tuple[int, int, int]:
    """(merchant, platform, commission) of an order of one shared line and no shipping fee."""
    kept = total - refunded
    commission = bps_share(total * kept // total, RATE)
    platform = bps_share(kept, FEE)
    return kept - platform - commission, platform, commission


@pytest.fixture
def paid_out(client):
    """A 1,500.00 sale, settled and paid out to the shop and the promoter."""
    shop = make_shop()
    promoter = UserFactory()
    payout_account_connect(shop=shop)
    payout_account_connect(user=promoter)
    order = _sale(client, shop=shop, promoter=promoter, price=150_000)
    payouts_submit(payout_ids=payouts_run(minimum_minor=100))
    merchant, _, commission = _parts(150_000)
    assert (merchant_balances(shop=shop)["paid_out"], promoter_balances(user=promoter)["paid_out"]) == (
        merchant,
        commission,
    )
    return order, shop, promoter


def _chargeback(order, amount, *, won):
    stripe_id = f"dp_after_payout_{order.pk}"
    [dispute] = services.chargeback_open(
        stripe_dispute_id=stripe_id,
        payment_intent_id=order.group.payment_intent_id,
        amount_minor=amount,
        reason="fraudulent",
    )
    assert dispute.chargeback_after_release
    order.refresh_from_db()
    assert not order.is_held
    assert services.chargeback_close(stripe_dispute_id=stripe_id, won=won) == 1
    dispute.refresh_from_db()
    order.refresh_from_db()
    return dispute


def test_a_lost_chargeback_after_payout_leaves_each_party_owing_exactly_its_part(paid_out):
    # given
    order, shop, promoter = paid_out
    merchant, platform, commission = _parts(order.total_minor)
    platform_before = ledger.balance_of(kind=Kind.PLATFORM_FEES)
    # when the card issuer takes the whole payment back
    dispute = _chargeback(order, order.total_minor, won=False)
    # then
    assert (dispute.outcome, dispute.outcome_minor) == (Dispute.Outcome.CHARGEBACK_LOST, order.total_minor)
    assert merchant_balances(shop=shop)["available"] == -merchant
    assert promoter_balances(user=promoter)["available"] == -commission
    assert ledger.balance_of(kind=Kind.PLATFORM_FEES) == platform_before - platform
    refund = Refund.objects.get(order=order)
    assert (refund.kind, refund.amount_minor, refund.status) == ("chargeback", order.total_minor, "succeeded")
    assert order.refunded_minor == order.total_minor and order.status == Order.Status.SETTLED
    books_ok()


def test_a_partial_chargeback_after_payout_claws_back_the_commission_on_the_lost_part(paid_out):
    order, shop, promoter = paid_out
    lost = order.total_minor // 3
    before, after = _parts(order.total_minor), _parts(order.total_minor, lost)

    _chargeback(order, lost, won=False)

    assert merchant_balances(shop=shop)["available"] == after[0] - before[0]
    assert promoter_balances(user=promoter)["available"] == after[2] - before[2]
    # 1,500.00 less a third: commission 100.00 of 150.00, so 50.00 clawed back
    assert after[2] - before[2] == -5_000
    books_ok()


def test_a_won_chargeback_after_payout_moves_nothing(paid_out):
    order, shop, promoter = paid_out
    dispute = _chargeback(order, order.total_minor, won=True)
    assert dispute.outcome == Dispute.Outcome.CHARGEBACK_WON
    assert (merchant_balances(shop=shop)["available"], promoter_balances(user=promoter)["available"]) == (0, 0)
    assert not Refund.objects.exists() and order.refunded_minor == 0
    books_ok()


def test_later_payouts_net_the_debt_and_pay_nothing_until_the_balance_is_over_the_minimum(client, paid_out, settings):
    # given a shop and a promoter in debt after a lost chargeback
    settings.MARKETPLACE_PAYOUT_MINIMUM_MINOR = 10_000
    order, shop, promoter = paid_out
    _chargeback(order, order.total_minor, won=False)
    merchant_debt, _, commission_debt = _parts(150_000)
    payouts = Payout.objects.count()

    def run():
        ids = payouts_run()
        payouts_submit(payout_ids=ids)
        return list(Payout.objects.filter(pk__in=ids).values_list("shop_id", "user_id", "amount_minor"))

    # when nothing new is sold, nobody is paid
    assert run() == []
    # when a sale covers part of the debt, still nothing
    _sale(client, shop=shop, promoter=promoter, price=100_000)
    assert merchant_balances(shop=shop)["available"] == _parts(100_000)[0] - merchant_debt == -42_500
    assert run() == []
    # when the balance is positive but under the minimum, still nothing
    _sale(client, shop=shop, promoter=promoter, price=60_000)
    assert merchant_balances(shop=shop)["available"] == -42_500 + _parts(60_000)[0] == 8_500
    assert run() == []
    # when it reaches the minimum, the shop is paid exactly its net balance, once
    _sale(client, shop=shop, promoter=promoter, price=2_000)
    assert run() == [(shop.pk, None, 8_500 + _parts(2_000)[0])] == [(shop.pk, None, 10_200)]
    assert run() == []
    assert merchant_balances(shop=shop)["available"] == 0
    # the promoter's commissions went to the debt first: 100 + 60 + 2 less the 150 owed, under the minimum
    assert promoter_balances(user=promoter)["available"] == 10_000 + 6_000 + 200 - commission_debt == 1_200
    assert Payout.objects.count() == payouts + 1
    books_ok()


def test_a_chargeback_on_a_payment_of_two_shops_is_spread_over_their_orders_in_order(client):
    # given one payment for two orders from two shops, both settled
    promoter, buyer = UserFactory(), UserFactory()
    a = make_product(price_minor=30_000, commission_bps=RATE, stock=5)
    b = make_product(price_minor=20_000, commission_bps=RATE, stock=5)
    shares = {p.pk: referral_services.share_create(promoter=promoter, product=p) for p in (a, b)}
    group = pay(client, place(buyer, (a.variants.get(), 1), (b.variants.get(), 1), shares_by_product=shares))
    from orders import services as order_services

    first, second = group.orders.order_by("pk")
    for order in (first, second):
        order_services.order_ship(order_id=order.pk, merchant=order.shop.owner, carrier="SF", tracking_number="SF12345")
        settle_received(order)
    # when a chargeback of 350.00 is opened and lost: all of the first order, 50.00 of the second
    disputes = services.chargeback_open(
        stripe_dispute_id="dp_two_shops",
        payment_intent_id=group.payment_intent_id,
        amount_minor=35_000,
        reason="fraudulent",
    )
    assert [(d.order_id, d.chargeback_minor) for d in disputes] == [(first.pk, 30_000), (second.pk, 5_000)]
    assert services.chargeback_close(stripe_dispute_id="dp_two_shops", won=False) == 2
    # then each shop owes back its part of what was lost
    assert merchant_balances(shop=first.shop)["available"] == 0
    assert merchant_balances(shop=second.shop)["available"] == _parts(20_000, 5_000)[0]
    assert promoter_balances(user=promoter)["available"] == _parts(20_000, 5_000)[2]
    assert list(Refund.objects.order_by("order_id").values_list("order_id", "amount_minor")) == [
        (first.pk, 30_000),
        (second.pk, 5_000),
    ]
    books_ok()
