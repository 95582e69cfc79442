"""Shares, clicks and attribution. Commission itself is frozen on order lines at checkout
(orders.services) and paid at settlement (payments.services)."""

import hashlib
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from marketplace.errors import DomainError
from orders.models import OrderGroup, OrderLine
from orders.services import CheckoutAttribution
from referrals.models import Attribution, Click, CommissionRefusal, Share

SHARES_PER_HOUR = 30
_BOT = re.compile(r"bot|crawl|spider|slurp|preview|facebookexternalhit|headless|curl|wget|python-requests", re.I)
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789"


class RateLimited(DomainError):
    status_code = 429
    code = "rate_limited"


def _new_code() -> str:
    # 10 characters of a 55-symbol alphabet: about 58 bits, unguessable and not sequential.
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))


def share_create(*, promoter, product=None, shop=None) -> Share:
    """The promoter's share of a product or a shop: the existing one, or a new one
    (at most SHARES_PER_HOUR new shares per promoter and hour)."""
    if (product is None) == (shop is None):
        raise DomainError("Share either a product or a shop.")
    existing = Share.objects.filter(promoter=promoter, product=product, shop=shop).first()
    if existing is not None:
        return existing
    if product is not None and (product.status != "active" or not product.shop.is_open):
        raise DomainError("This product is not on sale, so it cannot be shared.")
    if shop is not None and not shop.is_open:
        raise DomainError("This shop is suspended, so it cannot be shared.")
    key = f"share-rate:{promoter.pk}:{timezone.now():%Y%m%d%H}"
    if cache.get_or_set(key, 0, 3600) >= SHARES_PER_HOUR:
        raise RateLimited(f"You can create {SHARES_PER_HOUR} new share links an hour. Try again later.")
    cache.incr(key)
    for _ in range(5):
        try:
            with transaction.atomic():
                return Share.objects.create(promoter=promoter, product=product, shop=shop, code=_new_code())
        except IntegrityError:
            existing = Share.objects.filter(promoter=promoter, product=product, shop=shop).first()
            if existing is not None:
                return existing
    raise DomainError("Could not create a share link. Try again.")


def is_bot(user_agent: str) -> bool:
    return not user_agent or bool(_BOT.search(user_agent))


def click_record(*, share: Share, visitor_id: str, ip: str, user_agent: str) -> bool:
    """Record a click and make this share the visitor's attribution (last click wins).

    Bots change nothing; a visitor's repeated clicks count once a day. Returns whether
    the click counted."""
    if is_bot(user_agent):
        return False
    now = timezone.now()
    ip_hash = hashlib.sha256(f"{settings.SECRET_KEY}:{ip}".encode()).hexdigest()
    created = Click.objects.bulk_create(
        [Click(share=share, visitor_id=visitor_id, ip_hash=ip_hash, user_agent=user_agent[:300], day=now.date())],
        ignore_conflicts=True,
    )
    Attribution.objects.update_or_create(
        visitor_id=visitor_id,
        defaults={
            "share": share,
            "clicked_at": now,
            "expires_at": now + timedelta(days=settings.MARKETPLACE_ATTRIBUTION_DAYS),
        },
    )
    return bool(created)


# --- Self-referral screening ------------------------------------------------------------


def email_normalized(email: str) -> str:
    """The mailbox behind an address: case, +tags and Gmail's dots do not make a new person."""
    local, _, domain = email.strip().lower().partition("@")
    local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def _address_key(address: str, city: str) -> str:
    return re.sub(r"[\W_]+", "", f"{address}{city}".lower())


def attribution_for_checkout(*, visitor_id: str | None, buyer, products: list, address) -> tuple[dict, list]:
    """Who shared what the buyer is buying: ({product_id: share}, [(share, product, reason)]).

    Uses the visitor's unexpired attribution. A product counts when the share is for it or
    for its shop. Self-referrals (same account, own shop, an alias of the buyer's email,
    the buyer's shipping address) earn nothing and are returned with their reason."""
    if not visitor_id:
        return {}, []
    attribution = (
        Attribution.objects.select_related("share__promoter")
        .filter(visitor_id=visitor_id, expires_at__gt=timezone.now())
        .first()
    )
    if attribution is None:
        return {}, []
    share = attribution.share
    promoter = share.promoter
    matched = [p for p in products if p.pk == share.product_id or p.shop_id == share.shop_id]
    if not matched:
        return {}, []
    reason = None
    if promoter.pk == buyer.pk:
        reason = CommissionRefusal.Reason.SELF_PURCHASE
    elif email_normalized(promoter.email) == email_normalized(buyer.email):
        reason = CommissionRefusal.Reason.SAME_EMAIL
    else:
        promoter_addresses = {
            _address_key(a, c)
            for a, c in OrderGroup.objects.filter(buyer=promoter).values_list("ship_address", "ship_city")
        }
        if _address_key(address.address, address.city) in promoter_addresses:
            reason = CommissionRefusal.Reason.SAME_ADDRESS
    shares_by_product, refusals = {}, []
    for product in matched:
        product_reason = reason
        if product_reason is None and product.shop.owner_id == promoter.pk:
            product_reason = CommissionRefusal.Reason.OWN_SHOP
        if product_reason is None:
            shares_by_product[product.pk] = share
        else:
            refusals.append((share, product, product_reason))
    return shares_by_product, refusals


def commission_refusals_record(*, group, refusals: list) -> None:
    """Keep why an attribution earned nothing; a repeated checkout records nothing twice."""
    if not refusals or CommissionRefusal.objects.filter(order_group=group).exists():
        return
    CommissionRefusal.objects.bulk_create(
        [
            CommissionRefusal(share=share, order_group=group, product=product, reason=reason)
            for share, product, reason in refusals
        ]
    )


def checkout_attribution(*, visitor_id: str, buyer, products: list, address) -> CheckoutAttribution:
    """The checkout's attributor (registered with orders.services from referrals.apps): the
    visitor's shares, and the refusals to record once the group is placed."""
    shares_by_product, refusals = attribution_for_checkout(
        visitor_id=visitor_id, buyer=buyer, products=products, address=address
    )
    if not refusals:
        return CheckoutAttribution(shares_by_product=shares_by_product)
    return CheckoutAttribution(
        shares_by_product=shares_by_product,
        on_placed=lambda group: commission_refusals_record(group=group, refusals=refusals),
    )


def commissions_screen_card(*, group_id: int, card_fingerprint: str, lines: list) -> int:
    """At payment, when the card is known: a promoter who paid with the buyer's card is
    the buyer. Their lines earn nothing; the refusal is recorded. Returns lines voided.
    `lines` are the group's lines that carry a commission; voided ones are zeroed in place
    too. The caller holds the group's row lock, before the payment is posted to the ledger.
    Registered with payments' capture screens (referrals.apps)."""
    if not card_fingerprint or not lines:
        return 0
    promoters_same_card = set(
        OrderGroup.objects.filter(
            buyer_id__in={line.promoter_id for line in lines}, card_fingerprint=card_fingerprint
        ).values_list("buyer_id", flat=True)
    )
    voided = [line for line in lines if line.promoter_id in promoters_same_card]
    if not voided:
        return 0
    OrderLine.objects.filter(pk__in=[line.pk for line in voided]).update(commission_bps=0, commission_base_minor=0)
    for line in voided:
        line.commission_bps = line.commission_base_minor = 0
    CommissionRefusal.objects.bulk_create(
        [
            CommissionRefusal(
                share_id=line.share_id,
                order_group_id=group_id,
                product_id=line.product_id,
                reason=CommissionRefusal.Reason.SAME_CARD,
            )
            for line in voided
            if line.share_id
        ]
    )
    return len(voided)
