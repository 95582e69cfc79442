"""Shared steps for order tests: check out, pay through the local Stripe, handle the webhook."""

import uuid
from datetime import timedelta

from django.utils import timezone

from orders import services
from orders.models import Order
from payments import services as payment_services
from payments import stripe_client
from payments.local_stripe import local_event_signed, local_events_take
from payments.models import WebhookEvent

ADDRESS = services.Address(name="Li Lei", phone="+86 138 0000 0000", address="1 Garden Road, Flat 2", city="Hangzhou")


def place(buyer, *variants_and_quantities, key: str | None = None, shares_by_product=None):
    lines = [services.CheckoutLine(v.pk, q, v.price_minor) for v, q in variants_and_quantities]
    return services.checkout_place(
        buyer=buyer,
        lines=lines,
        address=ADDRESS,
        idempotency_key=key or uuid.uuid4().hex,
        shares_by_product=shares_by_product,
    )


def deliver_events(client) -> list:
    """POST each waiting local-Stripe event to the webhook, signed, then handle it as the
    worker would (task.apply on the real app)."""
    from payments.tasks import webhook_event_handle_task

    responses = []
    for event in local_events_take():
        body, signature = local_event_signed(event)
        response = client.post(
            "/payments/stripe/webhook/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
        responses.append(response)
        row = WebhookEvent.objects.get(stripe_id=event["id"])
        webhook_event_handle_task.apply(args=[row.pk])
    return responses


def pay(client, group, card: str = "pm_card_visa"):
    group = payment_services.payment_intent_ensure(group_id=group.pk, placed=group)
    try:
        stripe_client.payment_intent_confirm_test(payment_intent_id=group.payment_intent_id, payment_method=card)
    finally:
        deliver_events(client)
    group.refresh_from_db()
    return group


def ship_confirm_and_age(order: Order) -> Order:
    services.order_ship(order_id=order.pk, merchant=order.shop.owner, carrier="SF Express", tracking_number="SF1234567")
    services.order_confirm_receipt(order_id=order.pk, buyer=order.buyer)
    Order.objects.filter(pk=order.pk).update(after_sales_ends_at=timezone.now() - timedelta(seconds=1))
    order.refresh_from_db()
    return order
