from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import Order
from payments.tasks import orders_settle_due_task
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import ARTIFACTS, log_in, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_buyer_pays_two_shops_at_once_and_the_merchant_is_paid_after_receipt(
    browser, phone, live_server, celery_worker
):
    # given two shops with a product each, and a buyer on a phone
    tea_owner = UserFactory()
    tea = make_shop(owner=tea_owner, name="Misty Tea", shipping_fee_minor=800)
    oolong = make_product(shop=tea, title="Oolong tea tin", price_minor=6800, stock=5)
    cups = make_product(shop=make_shop(name="Clay Cups"), title="Celadon cup", price_minor=12800, stock=2)
    buyer = UserFactory()
    log_in(phone, buyer.email)

    # when the buyer adds one item from each shop and checks out
    for product in (oolong, cups):
        phone.goto(f"/p/{product.pk}/")
        phone.get_by_role("button", name="Add to cart").click()
        phone.wait_for_url("**/cart/")
    phone.shot("cart")
    phone.get_by_role("link", name="Checkout").click()
    phone.get_by_label("Recipient name").fill("Li Lei")
    phone.get_by_label("Phone").fill("+86 138 0000 0000")
    phone.get_by_label("Street address").fill("1 Garden Road, Flat 2")
    phone.get_by_label("City").fill("Hangzhou")
    phone.get_by_role("button", name="Continue to payment").click()

    # and pays once, in test mode
    phone.get_by_role("heading", name="Pay ¥204.00").wait_for()
    phone.shot("pay")
    phone.get_by_role("button", name="Pay (test mode)").click()

    # then the signed webhook marks it paid and the buyer sees two orders
    phone.get_by_role("heading", name="Paid — thank you!").wait_for(timeout=30_000)
    phone.shot("paid")
    phone.goto("/orders/")
    assert phone.locator(".order-row").count() == 2
    tea_order = Order.objects.get(shop=tea)
    assert tea_order.status == Order.Status.PAID

    # when the tea merchant ships with a tracking number
    merchant = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, base_url=live_server.url)
    shop_page = merchant.new_page()
    log_in(shop_page, tea_owner.email)
    shop_page.goto(f"/merchant/orders/{tea_order.pk}/")
    shop_page.get_by_label("Carrier").fill("SF Express")
    shop_page.get_by_label("Tracking number").fill("SF1234567890")
    shop_page.get_by_role("button", name="Mark as shipped").click()
    shop_page.get_by_text("Marked as shipped").wait_for()

    # and the buyer confirms receipt
    phone.goto(f"/orders/{tea_order.pk}/")
    assert phone.get_by_text("SF1234567890", exact=True).is_visible()
    phone.get_by_role("button", name="I received it").click()
    phone.get_by_text("Receipt confirmed").wait_for()
    phone.shot("received")

    # and the after-sales window ends and the worker settles it
    Order.objects.filter(pk=tea_order.pk).update(after_sales_ends_at=timezone.now() - timedelta(seconds=1))
    orders_settle_due_task.delay()
    wait_until(lambda: Order.objects.get(pk=tea_order.pk).status == Order.Status.SETTLED, "settlement by the worker")

    # then the merchant's earnings page shows the amount: 76.00 paid less the 5% fee (3.80)
    shop_page.goto("/merchant/earnings/")
    assert shop_page.locator("#earnings-available").inner_text() == "¥72.20"
    shop_page.screenshot(path=str(ARTIFACTS / "order_flow-merchant-earnings.png"), full_page=True)
    merchant.close()
    assert phone.js_errors == []
