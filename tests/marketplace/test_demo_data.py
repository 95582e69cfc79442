import pytest
from django.core.management import call_command

from accounts.models import User
from disputes.models import AfterSalesRequest, Dispute
from orders.models import Order
from payments.services import reconcile
from shops.models import Product, ProductPhoto, Shop

pytestmark = pytest.mark.django_db


def test_demo_data_loads_once_and_balances(capsys):
    # when the demo data is loaded twice
    call_command("seed_demo")
    counts = (
        User.objects.count(), Shop.objects.count(), Product.objects.count(), Order.objects.count(),
        AfterSalesRequest.objects.count(),
    )  # fmt: skip
    call_command("seed_demo")

    # then nothing is duplicated
    assert (
        User.objects.count(), Shop.objects.count(), Product.objects.count(), Order.objects.count(),
        AfterSalesRequest.objects.count(),
    ) == counts  # fmt: skip
    assert counts[1] == 3 and counts[2] >= 12
    # and every product has generated photos, every demo order is paid for and the books balance
    assert not Product.objects.filter(photos__isnull=True).exists()
    assert ProductPhoto.objects.count() == 2 * counts[2]
    demo_buyer_orders = Order.objects.filter(buyer__email="buyer@demo.circle.market")
    assert sorted(demo_buyer_orders.values_list("status", flat=True)) == ["paid", "settled", "shipped", "shipped"]
    # and the after-sales pages have an open request for the demo merchant and a dispute for staff
    assert sorted(AfterSalesRequest.objects.values_list("status", flat=True)) == ["escalated", "open"]
    assert AfterSalesRequest.objects.get(status="open").shop.owner.email == "tea@demo.circle.market"
    assert Dispute.objects.get().status == Dispute.Status.OPEN
    assert reconcile().ok
    # and the logins are printed
    out = capsys.readouterr().out
    assert "admin@demo.circle.market" in out and "circle-demo-2026" in out
