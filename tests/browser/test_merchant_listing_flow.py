import io

import pytest
from PIL import Image

from shops.models import Product, ProductPhoto
from tests.factories import UserFactory, make_shop
from tests.helpers import ARTIFACTS, log_in, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _jpeg(colour: tuple[int, int, int]) -> dict:
    out = io.BytesIO()
    Image.new("RGB", (1200, 900), colour).save(out, "JPEG", quality=85)
    return {"name": f"phone-{colour[0]}.jpg", "mimeType": "image/jpeg", "buffer": out.getvalue()}


def test_a_merchant_lists_a_product_with_photos_and_a_variant_and_a_buyer_finds_it(
    browser, phone, live_server, celery_worker
):
    # given a merchant with a shop, on a phone
    merchant = UserFactory()
    make_shop(owner=merchant, name="Harbour Knits")
    log_in(phone, merchant.email)

    # when they create a product
    phone.goto("/merchant/products/new/")
    phone.get_by_label("Title").fill("Merino wool beanie")
    phone.get_by_label("Description").fill("Hand-knitted, soft and warm.")
    phone.locator("#id_price_minor").fill("129.00")
    phone.get_by_label("Commission for sharers (%)").fill("12.5")
    phone.get_by_label("Stock").fill("7")
    phone.shot("new-product-form")
    phone.get_by_role("button", name="Save draft").click()
    phone.wait_for_url("**/merchant/products/*/")
    product = Product.objects.get(title="Merino wool beanie")

    # and uploads two photos from the phone
    phone.locator("#id_photos").set_input_files([_jpeg((200, 60, 60)), _jpeg((60, 60, 200))])
    phone.get_by_role("button", name="Upload").click()
    phone.get_by_text("(2/20)").wait_for()
    # the worker renders them in the background
    wait_until(
        lambda: ProductPhoto.objects.filter(product=product, status=ProductPhoto.Status.READY).count() == 2,
        "both photos to be rendered by the Celery worker",
    )

    # and adds a variant
    variants = phone.locator("#variants")
    variants.locator("#new_variant_name").fill("Navy")
    variants.locator("#new_variant_sku").fill("BEANIE-NAVY")
    variants.locator("#new_variant_price_minor").fill("139.00")
    variants.locator("#new_variant_stock").fill("3")
    variants.get_by_role("button", name="Add variant").click()
    phone.locator("#variants").get_by_text("Add a variant").wait_for()
    wait_until(lambda: product.variants.count() == 2, "the variant to be saved")

    # and publishes it
    phone.reload()
    phone.shot("product-editor")
    phone.get_by_role("button", name="Publish").click()
    phone.get_by_text("is now active").wait_for()
    product.refresh_from_db()
    assert product.status == Product.Status.ACTIVE
    assert product.commission_bps == 1250
    assert product.stock_total == 10
    assert product.price_minor == 12900

    # then a buyer on another phone finds it by search, with a typo
    buyer_context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, base_url=live_server.url
    )
    buyer = buyer_context.new_page()
    buyer.goto("/")
    buyer.get_by_role("search").get_by_label("Search products").fill("merino beenie")
    buyer.get_by_role("search").get_by_role("button", name="Search").click()
    buyer.get_by_role("link", name="Merino wool beanie").click()
    buyer.wait_for_url(f"**/p/{product.pk}/")
    # and sees both photos, both variants and the price
    assert buyer.locator(".gallery img").count() == 2
    assert buyer.get_by_text("Navy").is_visible()
    assert buyer.get_by_text("¥129.00").first.is_visible()
    buyer.screenshot(path=str(ARTIFACTS / "merchant_listing_flow-buyer-product-page.png"), full_page=True)
    buyer_context.close()
