"""16 settlement runs and 16 payout runs at once, each on its own database connection."""

import pytest
from django.db import connection
from django.test import Client

from payments.models import LedgerEntry, LedgerTransaction, Payout
from payments.services import orders_settle, payout_account_connect, payouts_run, payouts_submit, reconcile
from referrals import services as referral_services
from tests.factories import UserFactory, make_product
from tests.helpers import pay, place, race, ship_confirm_and_age

pytestmark = pytest.mark.django_db(transaction=True)

RUNS = 16


@pytest.fixture
def paid_orders():
    """Six received orders from three shops, each shared by one of two promoters."""
    client = Client()
    promoters = [UserFactory(), UserFactory()]
    orders = []
    for i in range(6):
        product = make_product(price_minor=100_000 + i, commission_bps=1000, stock=5)
        share = referral_services.share_create(promoter=promoters[i % 2], product=product)
        group = pay(client, place(UserFactory(), (product.variants.get(), 1), shares_by_product={product.pk: share}))
        orders.append(ship_confirm_and_age(group.orders.get()))
    return orders, promoters


def test_sixteen_concurrent_settlement_runs_post_one_set_of_entries(paid_orders):
    orders, _ = paid_orders
    ids = [o.pk for o in orders]

    results = race(RUNS, lambda i: orders_settle(order_ids=ids))

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(results) == len(ids)
    # each order's escrow was released exactly once, whichever run took it
    released = LedgerEntry.objects.filter(transaction__kind="settlement", account__kind="escrow")
    assert sorted(released.values_list("account__order_id", flat=True)) == sorted(ids)
    assert LedgerTransaction.objects.filter(kind="settlement").count() == sum(1 for r in results if r)
    assert reconcile().ok


def test_sixteen_concurrent_payout_runs_make_one_transfer_per_payee(paid_orders, stripe_fake):
    orders, promoters = paid_orders
    orders_settle(order_ids=[o.pk for o in orders])
    for promoter in promoters:
        payout_account_connect(user=promoter)
    for order in orders:
        payout_account_connect(shop=order.shop)

    def run(i):
        ids = payouts_run(minimum_minor=100)
        payouts_submit(payout_ids=ids)
        connection.close()
        return ids

    results = race(RUNS, run)

    assert not [r for r in results if isinstance(r, Exception)], results
    payees = len(promoters) + len(orders)
    assert sum(len(r) for r in results) == payees
    assert Payout.objects.filter(status=Payout.Status.PAID).count() == payees
    assert sum(1 for method, path in stripe_fake.requests if path == "/v1/transfers") == payees
    assert reconcile().ok
