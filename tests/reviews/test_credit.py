"""Shop credit on a frozen clock: planted histories get exactly the expected level, badge
and history rows; the evaluation run twice changes nothing; live parts move at once."""

from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from disputes.models import Dispute, Sanction
from reviews import selectors, services
from reviews.models import ShopCreditHistory
from reviews.tasks import shop_credit_evaluate_task
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import clock_freeze
from tests.reviews.helpers import REVIEW, plant_reviews, planted_line

pytestmark = pytest.mark.django_db

FIELDS = ("level", "is_trusted", "miss", "rating_count", "rating_x100", "orders_3m", "on_time_bps",
          "disputes_lost_3m", "completed_orders")  # fmt: skip


def _at(*args) -> datetime:
    return timezone.make_aware(datetime(*args))


def _orders(shop, product, start, n, *, late: bool = False):
    for i in range(n):
        paid = start + timedelta(hours=i)
        ship_by = paid + timedelta(days=3)
        planted_line(
            shop=shop, product=product, paid_at=paid, ship_by=ship_by,
            shipped_at=ship_by + timedelta(days=1) if late else paid + timedelta(days=1),
            received_at=ship_by + timedelta(days=3),
        )  # fmt: skip


def _row(shop, month):
    row = ShopCreditHistory.objects.get(shop=shop, month=month)
    return tuple(getattr(row, f) for f in FIELDS)


def test_planted_histories_get_exactly_the_expected_level_badge_and_history(monkeypatch):
    clock = clock_freeze(monkeypatch)
    clock.now = _at(2026, 1, 5, 12, 0)
    staff = UserFactory(is_staff=True)
    shops = {name: make_shop(name=name) for name in ("good", "late", "lost", "sanctioned", "new")}
    for name in ("good", "late", "lost", "sanctioned"):
        product = make_product(shop=shops[name])
        _orders(shops[name], product, clock.now, 20)
        specs = [{"stars": 5, "created_at": _at(2026, 1, 10)}] * 10
        plant_reviews(product, specs, order=shops[name].orders.first())
    lost_order = shops["lost"].orders.first()
    Dispute.objects.create(
        order=lost_order, shop=shops["lost"], source="escalation", status="ruled", decide_by=_at(2026, 3, 1),
        outcome="full_refund", ruled_at=_at(2026, 1, 20),
    )  # fmt: skip
    Sanction.objects.create(
        shop=shops["sanctioned"], kind="warning", reason="Counterfeit tea", starts_at=_at(2026, 1, 6),
        ends_at=_at(2026, 6, 1), created_by=staff,
    )  # fmt: skip

    # when March is evaluated
    clock.now = _at(2026, 3, 1, 0, 30)
    assert services.shop_credit_evaluate().written == 5
    march = date(2026, 3, 1)
    good = (2, True, "", 10, 500, 20, 10000, 0, 20)
    assert _row(shops["good"], march) == good
    assert _row(shops["late"], march) == good
    assert _row(shops["lost"], march) == (2, False, "disputes", 10, 500, 20, 10000, 1, 20)
    assert _row(shops["sanctioned"], march) == (2, False, "sanction", 10, 500, 20, 10000, 0, 20)
    assert _row(shops["new"], march) == (0, False, "few_orders", 0, 0, 0, None, 0, 0)

    # and the late shop then ships three orders late, and April is evaluated (by the beat task)
    _orders(shops["late"], shops["late"].products.get(), _at(2026, 3, 5), 3, late=True)
    clock.now = _at(2026, 4, 1, 0, 30)
    assert shop_credit_evaluate_task.apply().get() == 5
    april = date(2026, 4, 1)
    assert _row(shops["late"], april) == (2, False, "late_shipping", 10, 500, 23, 8695, 0, 23)
    assert _row(shops["good"], april) == good
    assert selectors.credit_history_story(selectors.credit_history(shop=shops["late"])) == [
        "Trusted shop since March 2026",
        "Level 2 from March 2026",
        "Lost the trusted badge in April 2026: late shipping",
    ]

    # then running April again changes nothing
    before = list(ShopCreditHistory.objects.order_by("pk").values())
    assert services.shop_credit_evaluate().written == 0
    assert shop_credit_evaluate_task.apply().get() == 0
    assert list(ShopCreditHistory.objects.order_by("pk").values()) == before


def test_the_public_pages_show_the_history_and_live_parts_move_without_waiting(client, monkeypatch):
    clock = clock_freeze(monkeypatch)
    clock.now = _at(2026, 1, 5, 12, 0)
    shop = make_shop()
    product = make_product(shop=shop)
    _orders(shop, product, clock.now, 20)
    plant_reviews(product, [{"stars": 5}] * 10, order=shop.orders.first())
    clock.now = _at(2026, 3, 1, 0, 30)
    services.shop_credit_evaluate()
    page = client.get(f"/s/{shop.slug}/").content.decode()
    assert "Trusted shop since March 2026" in page and "Level 2" in page and "10 ratings" in page
    # a new review counts at once; the level waits for the month
    line = planted_line(shop=shop, product=product)
    services.review_create(buyer=line.order.buyer, line_id=line.pk, **{**REVIEW, "stars": 1})
    card = client.get(f"/api/v1/shops/{shop.slug}/trust-card/").json()
    assert card["rating"]["count"] == 11 and card["rating"]["histogram"]["1"] == 1
    assert (card["level"], card["is_trusted"]) == (2, True)
    assert card["history"][0] == "Trusted shop since March 2026"
    product_page = client.get(f"/p/{product.pk}/").content.decode()
    assert "Trusted shop" in product_page and "Shop rating <strong>4.6</strong> (11)" in product_page
