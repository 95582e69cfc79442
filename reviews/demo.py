"""Demo reviews for `make run`: every state on the demo tea shop's pages, made through the
services from received orders of a few demo buyers: photos, a reply, a follow-up and its
reply, a masked name, a folded review and one from an alias of the shop owner (connected)."""

import uuid

from accounts.models import User
from orders import services as order_services
from orders.demo import ADDRESS
from orders.models import OrderLine
from payments.services import order_group_mark_paid
from reviews import services
from shops.demo import DEMO_PASSWORD, LOGINS, demo_photo
from shops.models import Shop, Variant

REVIEWERS = {
    "amy@demo.circle.market": "Amy Chen",
    "ben@demo.circle.market": "Ben Li",
    "cai@demo.circle.market": "Cai Wu",
    # An alias of the tea merchant's address: the review is labelled connected, not counted.
    "tea+friend@demo.circle.market": "Tea Friend",
}


def _received_line(buyer: User, shop: Shop, nth: int) -> OrderLine:
    variants = Variant.objects.filter(product__shop=shop, stock__gt=0, product__status="active").order_by("pk")
    variant = variants[nth % variants.count()]
    group = order_services.checkout_place(
        buyer=buyer,
        lines=[order_services.CheckoutLine(variant.pk, 1, variant.price_minor)],
        address=ADDRESS,
        idempotency_key=uuid.uuid4().hex,
    )
    # Test-mode money: the same service a verified Stripe webhook calls.
    order_group_mark_paid(group_id=group.pk, amount_minor=group.total_minor, payment_intent_id=f"pi_demo_{group.pk}")
    order = group.orders.get()
    order_services.order_ship(order_id=order.pk, merchant=shop.owner, carrier="SF Express", tracking_number="SF9988")
    order_services.order_confirm_receipt(order_id=order.pk, buyer=buyer)
    return order.lines.get()


def demo_reviews_load() -> bool:
    """Returns False when the demo reviews exist already (or the demo world is missing)."""
    tea = Shop.objects.filter(owner__email=LOGINS["merchant"]).first()
    admin = User.objects.filter(email=LOGINS["admin"]).first()
    if tea is None or admin is None or User.objects.filter(email__in=list(REVIEWERS)).exists():
        return False
    people = {}
    for email, name in REVIEWERS.items():
        people[email] = User.objects.create_user(email=email, password=DEMO_PASSWORD, display_name=name)
    lines = {email: _received_line(user, tea, n) for n, (email, user) in enumerate(people.items())}

    def review(email: str, **fields):
        base = {"stars": 5, "score_described": 5, "score_service": 5, "score_shipping": 4}
        return services.review_create(buyer=people[email], line_id=lines[email].pk, **{**base, **fields})

    amy = review(
        "amy@demo.circle.market",
        text="Bright, floral and clean. The tin keeps it fresh; the leaves unfurl beautifully.",
        photos=[demo_photo("Leaves", 601, (900, 900)), demo_photo("Cup", 602, (900, 900))],
    )
    services.review_reply(review_id=amy.pk, merchant=tea.owner, text="Thank you, Amy! Try it at 85 °C.")
    services.review_follow_up(
        review_id=amy.pk, buyer=people["amy@demo.circle.market"], text="At 85 °C it is even better."
    )
    services.review_reply(review_id=amy.pk, merchant=tea.owner, text="Happy brewing!", to_follow_up=True)
    review(
        "ben@demo.circle.market", stars=4, score_shipping=3, is_name_masked=True,
        text="Good tea, a little pricey. Shipping took four days.",
    )  # fmt: skip
    cai = review(
        "cai@demo.circle.market", stars=2, score_service=2,
        text="Too bitter for me. Call me on 138 0000 1234 if you want it back.",
    )  # fmt: skip
    services.review_fold(review_id=cai.pk, staff=admin, reason="personal_data", note="A phone number in the text.")
    review("tea+friend@demo.circle.market", text="Best tea shop in Hangzhou!")
    # No credit evaluation here: the demo shops opened this month, and a month is evaluated
    # as of its first day; the beat job gives them their first level next month.
    return True
