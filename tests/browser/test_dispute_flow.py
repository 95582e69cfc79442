import io

import pytest
from PIL import Image

from disputes.models import AfterSalesRequest, Dispute
from orders.models import Order
from tests.factories import UserFactory
from tests.helpers import ARTIFACTS, PHONE, books_ok, log_in, shipped_sale

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _jpeg() -> dict:
    out = io.BytesIO()
    Image.new("RGB", (1200, 900), (180, 120, 60)).save(out, "JPEG", quality=85)
    return {"name": "crushed-box.jpg", "mimeType": "image/jpeg", "buffer": out.getvalue()}


def _context_page(browser, live_server, email: str):
    context = browser.new_context(**PHONE, base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, email)
    return context, page


def test_a_refund_request_is_rejected_escalated_and_ruled_in_the_console(browser, phone, live_server, client):
    # given a buyer's shipped ¥100.00 order
    order, _ = shipped_sale(client, price=10_000)
    staff = UserFactory(is_staff=True)
    log_in(phone, order.buyer.email)

    # when the buyer asks for a partial refund with a photo, from the order page
    phone.goto(f"/orders/{order.pk}/")
    phone.get_by_role("link", name="Request a refund / return").click()
    phone.get_by_label("Partial refund (damaged or not as described)").check()
    phone.get_by_label("Reason").select_option("damaged")
    assert phone.get_by_label("Amount to refund").input_value() == "100.00"
    phone.get_by_label("Amount to refund").fill("60.00")
    phone.get_by_label("What happened").fill("The box arrived crushed and the teapot lid is broken.")
    phone.get_by_label("Photos").set_input_files([_jpeg()])
    phone.shot("request-form")
    phone.get_by_role("button", name="Send request").click()

    # then the request page shows the countdown and the photo
    phone.get_by_text("The shop must answer within 1 day 23 h").wait_for()
    case = AfterSalesRequest.objects.get()
    assert (case.amount_minor, case.evidence.count()) == (6_000, 1)
    photo = phone.get_by_role("img", name="Photo 1 from the buyer")
    # the thumbnail loads lazily: scroll to it, as the buyer would, and let it finish
    photo.scroll_into_view_if_needed()
    phone.wait_for_function("img => img.complete", arg=photo.element_handle())
    assert photo.evaluate("img => img.naturalWidth") > 0
    phone.shot("request-open")

    # when the merchant rejects it from the after-sales inbox
    merchant, shop_page = _context_page(browser, live_server, order.shop.owner.email)
    shop_page.goto("/merchant/after-sales/")
    shop_page.get_by_role("link", name=f"Request {case.pk}").click()
    shop_page.get_by_label("Why you reject the request").fill("It left us packed in foam, undamaged.")
    shop_page.get_by_role("button", name="Reject request").click()
    shop_page.get_by_text("Request rejected.").wait_for()

    # and the buyer escalates
    phone.reload()
    phone.get_by_text("It left us packed in foam, undamaged.", exact=True).wait_for()
    phone.get_by_label("Why Circle Market should step in").fill("The courier crushed it; see my photo of the box.")
    phone.get_by_role("button", name="Escalate to Circle Market").click()
    phone.get_by_text("Escalated. Circle Market staff will rule on it.").wait_for()
    dispute = Dispute.objects.get()

    # and staff rule a partial refund of ¥40.00 in the console
    console, staff_page = _context_page(browser, live_server, staff.email)
    staff_page.goto("/staff/disputes/")
    staff_page.get_by_role("link", name=f"Dispute {dispute.pk}").click()
    staff_page.get_by_label("Partial refund", exact=True).check()
    staff_page.get_by_label("Partial refund amount").fill("40.00")
    staff_page.get_by_label("Written reason").fill("Both photos show the damage came in transit; we split it.")
    staff_page.screenshot(path=str(ARTIFACTS / "dispute_flow-console.png"), full_page=True)
    staff_page.get_by_role("button", name="Rule").click()
    staff_page.get_by_text("Ruled: Partial refund to the buyer.").wait_for()

    # then both the buyer and the merchant see the ruling and the refunded amount
    for page in (phone, shop_page):
        page.goto(f"/after-sales/{case.pk}/")
        ruling = page.locator("#ruling")
        ruling.get_by_text("Partial refund to the buyer").wait_for()
        assert "¥40.00" in ruling.inner_text()
        assert "we split it" in ruling.inner_text()
        assert page.get_by_role("row", name="Refunded").last.inner_text().split()[-1] == "−¥40.00"
    shop_page.screenshot(path=str(ARTIFACTS / "dispute_flow-merchant-ruled.png"), full_page=True)
    phone.shot("ruled")
    order.refresh_from_db()
    assert order.refunded_minor == 4_000 and not order.is_held and order.status == Order.Status.SHIPPED
    books_ok()
    merchant.close()
    console.close()
    assert phone.js_errors == []
