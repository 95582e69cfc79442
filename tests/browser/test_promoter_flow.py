from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import Order
from orders.services import order_ship
from payments.models import Payout
from payments.services import payout_account_connect
from payments.tasks import orders_settle_due_task, payouts_run_task
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import ARTIFACTS, PHONE, log_in, wait_until

IPHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_promoter_shares_a_friend_buys_and_the_payout_run_pays_the_commission(
    browser, phone, live_server, celery_worker, settings
):
    settings.MARKETPLACE_PAYOUT_MINIMUM_MINOR = 1000
    # given a product with a 10% commission, and a promoter on a phone
    product = make_product(shop=make_shop(name="Hill Honey"), title="Wildflower honey", price_minor=20_000, stock=3)
    promoter = UserFactory(display_name="Mei")
    log_in(phone, promoter.email)

    # when the promoter creates a share and downloads the poster
    phone.goto(f"/p/{product.pk}/")
    phone.get_by_role("link", name="Share and earn").click()
    phone.get_by_role("button", name="Get my share link").click()
    link = phone.locator(".break-all a").inner_text()
    assert "/r/" in link
    with phone.expect_download() as download:
        phone.get_by_role("link", name="Download poster").click()
    poster = ARTIFACTS / "promoter-poster.jpg"
    download.value.save_as(poster)
    assert poster.read_bytes()[:3] == b"\xff\xd8\xff"
    phone.shot("share")

    # and a friend, in a second browser, opens the link, buys and pays in test mode
    # (a phone's user agent: headless Chromium's own is counted as a bot and attributes nothing)
    friend_context = browser.new_context(**PHONE, base_url=live_server.url, user_agent=IPHONE_UA)
    friend = friend_context.new_page()
    friend.goto(link)
    friend.get_by_text("Mei shared this with you and earns a commission").wait_for()
    buyer = UserFactory()
    log_in(friend, buyer.email)
    friend.goto(f"/p/{product.pk}/")
    friend.get_by_role("button", name="Add to cart").click()
    friend.wait_for_url("**/cart/")
    friend.get_by_role("link", name="Checkout").click()
    friend.get_by_label("Recipient name").fill("Han Mei")
    friend.get_by_label("Phone").fill("+86 139 0000 0000")
    friend.get_by_label("Street address").fill("5 River Road, Flat 9")
    friend.get_by_label("City").fill("Suzhou")
    friend.get_by_role("button", name="Continue to payment").click()
    friend.get_by_role("button", name="Pay (test mode)").click()
    friend.get_by_role("heading", name="Paid — thank you!").wait_for(timeout=30_000)
    order = Order.objects.get(buyer=buyer)
    assert order.lines.get().promoter_id == promoter.pk

    # the commission is pending while the order is open
    phone.goto("/promoter/")
    assert phone.locator("#balance-pending").inner_text() == "¥20.00"

    # when the shop ships and the friend confirms receipt
    order_ship(order_id=order.pk, merchant=product.shop.owner, carrier="SF Express", tracking_number="SF55667788")
    friend.goto(f"/orders/{order.pk}/")
    friend.get_by_role("button", name="I received it").click()
    friend.get_by_text("Receipt confirmed").wait_for()
    friend_context.close()

    # and the worker settles it after the after-sales window
    Order.objects.filter(pk=order.pk).update(after_sales_ends_at=timezone.now() - timedelta(seconds=1))
    orders_settle_due_task.delay()
    wait_until(lambda: Order.objects.get(pk=order.pk).status == Order.Status.SETTLED, "settlement by the worker")

    # then the promoter centre shows the commission available
    phone.goto("/promoter/")
    assert phone.locator("#balance-available").inner_text() == "¥20.00"
    phone.shot("available")

    # and the payout run pays it to the promoter's payout account
    phone.get_by_role("button", name="Set up payouts").click()
    phone.get_by_text("payout account is set up").wait_for()
    payout_account_connect(shop=product.shop)
    payouts_run_task.delay()
    wait_until(lambda: Payout.objects.filter(user=promoter, status=Payout.Status.PAID).exists(), "the payout run")
    phone.goto("/promoter/")
    assert phone.locator("#balance-paid").inner_text() == "¥20.00"
    assert phone.locator("#balance-available").inner_text() == "¥0.00"
    phone.shot("paid")
    assert phone.js_errors == []
