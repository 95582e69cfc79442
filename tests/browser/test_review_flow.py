import io

import pytest
from PIL import Image

from reviews.models import Review
from tests.factories import UserFactory
from tests.helpers import PHONE, log_in
from tests.reviews.helpers import received_line

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _jpeg() -> dict:
    out = io.BytesIO()
    Image.new("RGB", (1200, 900), (40, 120, 60)).save(out, "JPEG", quality=85)
    return {"name": "tea-leaves.jpg", "mimeType": "image/jpeg", "buffer": out.getvalue()}


def _context_page(browser, live_server, email: str):
    context = browser.new_context(**PHONE, base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, email)
    return context, page


def _stars(page, field: str, value: int) -> None:
    page.locator(f'input[name="{field}"][value="{value}"]').check()


def test_a_buyer_reviews_the_merchant_replies_the_buyer_follows_up_and_staff_fold(browser, phone, live_server, client):
    # given a buyer who received an item, its shop and a staff member
    line = received_line(client)
    shop = line.order.shop
    staff = UserFactory(is_staff=True)
    log_in(phone, line.order.buyer.email)

    # when the buyer reviews it with a photo, from their account
    phone.goto("/me/")
    phone.get_by_role("link", name="My reviews").click()
    phone.get_by_role("link", name="Review").click()
    _stars(phone, "stars", 4)
    _stars(phone, "score_described", 5)
    _stars(phone, "score_service", 4)
    _stars(phone, "score_shipping", 3)
    phone.get_by_label("Your review").fill("Fragrant oolong, well packed. Shipping took a while.")
    phone.get_by_label("Photos").set_input_files([_jpeg()])
    phone.shot("review-form")
    phone.get_by_role("button", name="Publish review").click()
    phone.get_by_text("Thank you: your review is published.").wait_for()
    review = Review.objects.get()
    assert (review.stars, review.photo_count, review.score_shipping) == (4, 1, 3)
    assert phone.get_by_role("img", name="Buyer's photo 1").count() == 1

    # and the merchant replies from the reviews inbox
    merchant, shop_page = _context_page(browser, live_server, shop.owner.email)
    shop_page.goto("/merchant/reviews/")
    shop_page.get_by_text("Unanswered").first.wait_for()
    shop_page.get_by_role("link", name="Reply", exact=True).click()
    shop_page.get_by_label("Your reply").fill("Thank you! We now ship oolong the same day.")
    shop_page.get_by_role("button", name="Publish reply").click()
    shop_page.get_by_text("Your reply is published.").wait_for()

    # and the buyer adds a follow-up
    phone.reload()
    phone.get_by_text("Thank you! We now ship oolong the same day.").wait_for()
    phone.get_by_label("Your follow-up").fill("A month on, still the tea I reach for.")
    phone.get_by_role("button", name="Publish follow-up").click()
    phone.get_by_text("Your follow-up is published.").wait_for()

    # then the shop's trust card and the product page show it
    phone.goto(f"/s/{shop.slug}/")
    card = phone.locator("#trust")
    card.get_by_text("1 rating").wait_for()
    assert card.locator(".rating-mean").inner_text() == "4.0"
    phone.shot("trust-card")
    phone.goto(f"/p/{line.product_id}/")
    reviews = phone.locator("#reviews")
    reviews.get_by_text("Fragrant oolong, well packed.").wait_for()
    assert reviews.get_by_text("A month on, still the tea I reach for.").is_visible()
    assert reviews.get_by_text("Thank you! We now ship oolong the same day.").is_visible()
    phone.shot("product-reviews")

    # when staff fold the review with a reason
    console, staff_page = _context_page(browser, live_server, staff.email)
    staff_page.goto(f"/reviews/{review.pk}/")
    staff_page.get_by_label("Reason shown to everyone").select_option("off_topic")
    staff_page.get_by_label("Note for the record").fill("Mostly about the courier.")
    staff_page.get_by_role("button", name="Fold").click()
    staff_page.get_by_text("The review is folded; its reason is shown to everyone.").wait_for()

    # then both sides see the reason
    for page in (phone, shop_page):
        page.goto(f"/p/{line.product_id}/")
        page.get_by_text("Folded by Circle Market: Not about the item or the shop").wait_for()
    phone.shot("folded")
    assert phone.js_errors == []
    for context in (merchant, console):
        context.close()
