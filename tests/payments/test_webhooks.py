"""Stripe webhooks at the door: replays, reordering, tampering, stale signatures, bad bodies
and wrong amounts. Events come from the local Stripe and go through the real view and the
real handler task."""

import contextlib
import hashlib
import hmac
import json
import time

import pytest
from django.conf import settings

from orders.models import Order, OrderEvent, OrderGroup
from payments import ledger, stripe_client
from payments.ledger import Kind
from payments.local_stripe import local_event_signed, local_events_take
from payments.models import LedgerEntry, LedgerTransaction, Refund, WebhookEvent
from payments.services import payment_intent_ensure, reconcile
from payments.tasks import payment_intent_refund_whole_task, webhook_event_handle_task
from payments.views import MAX_WEBHOOK_BYTES
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import place

pytestmark = pytest.mark.django_db

WEBHOOK_URL = "/payments/stripe/webhook/"
# payments.stripe_client.webhook_event_verify accepts signatures up to this many seconds old.
TOLERANCE_SECONDS = 300


@pytest.fixture
def group():
    """A buyer's unpaid two-shop checkout (two orders, one payment)."""
    tea = make_shop(shipping_fee_minor=800)
    cups = make_shop()
    teapot = make_product(shop=tea, price_minor=6800, stock=5).variants.get()
    cup = make_product(shop=cups, price_minor=12800, stock=2).variants.get()
    return place(UserFactory(), (teapot, 2), (cup, 1))


def _pay_at_stripe(group, *cards: str) -> list[dict]:
    """Confirm the group's PaymentIntent with each card in turn; the events Stripe would send."""
    group = payment_intent_ensure(group_id=group.pk, placed=group)
    for card in cards:
        # A declined card raises; its payment_intent.payment_failed event is in the outbox all the same.
        with contextlib.suppress(stripe_client.StripeFailure):
            stripe_client.payment_intent_confirm_test(payment_intent_id=group.payment_intent_id, payment_method=card)
    return local_events_take()


def _post(client, body: bytes, signature: str | None):
    headers = {} if signature is None else {"HTTP_STRIPE_SIGNATURE": signature}
    return client.post(WEBHOOK_URL, data=body, content_type="application/json", **headers)


def _signature_by_hand(body: bytes, *, timestamp: int, secret: str | None = None) -> str:
    """Stripe's scheme: v1 is HMAC-SHA256 of "{t}.{body}" under the endpoint secret."""
    secret = secret or settings.STRIPE_WEBHOOK_SECRET
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _deliver(client, event: dict) -> str:
    """POST the signed event, then handle it as the worker does; the handling status."""
    response = _post(client, *local_event_signed(event))
    assert response.status_code == 200, response.content
    row = WebhookEvent.objects.get(stripe_id=event["id"])
    return webhook_event_handle_task.apply(args=[row.pk]).get()


def _ledger_rows() -> list[tuple]:
    return list(LedgerEntry.objects.order_by("pk").values_list("pk", "transaction_id", "account_id", "amount_minor"))


def _assert_paid_once(group) -> None:
    group.refresh_from_db()
    assert group.status == OrderGroup.Status.PAID
    orders = list(group.orders.order_by("pk"))
    assert len(orders) == 2
    for order in orders:
        assert order.status == Order.Status.PAID
        captures = LedgerTransaction.objects.filter(order=order, kind=LedgerTransaction.Kind.PAYMENT_CAPTURED)
        assert captures.count() == 1
        # No promoter on these lines, so the whole order total sits in its escrow.
        assert ledger.balance_of(kind=Kind.ESCROW, order=order) == order.total_minor
        assert order.events.filter(kind="paid").count() == 1
    assert LedgerTransaction.objects.count() == 2
    assert ledger.balance_of(kind=Kind.CLEARING) == -group.total_minor
    assert sum(ledger.balance_of(kind=Kind.ESCROW, order=o) for o in orders) == group.total_minor
    assert reconcile().problems == []


def _assert_nothing_moved(group) -> None:
    group.refresh_from_db()
    assert group.status == OrderGroup.Status.PENDING_PAYMENT
    assert set(group.orders.values_list("status", flat=True)) == {Order.Status.PENDING_PAYMENT}
    assert not LedgerTransaction.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert reconcile().ok


# --- Replays and reordering -----------------------------------------------------------


def test_a_replayed_event_is_stored_once_and_moves_money_once(client, group, django_capture_on_commit_callbacks):
    # given Stripe's success event for the group's payment
    (event,) = _pay_at_stripe(group, "pm_card_visa")
    body, signature = local_event_signed(event)

    # when Stripe delivers it twice (a retry after a lost 200)
    with django_capture_on_commit_callbacks() as enqueued:
        first = _post(client, body, signature)
        replay = _post(client, body, signature)

    # then both are acknowledged, the replay as a duplicate; the first was applied as it was
    # stored (nothing left for the worker) and the group is paid once
    assert first.status_code == 200
    assert first.json() == {"received": True, "duplicate": False, "id": event["id"]}
    assert replay.status_code == 200
    assert replay.json() == {"received": True, "duplicate": True, "id": event["id"]}
    assert enqueued == []
    row = WebhookEvent.objects.get(stripe_id=event["id"])
    assert (row.status, row.error) == (WebhookEvent.Status.SUCCEEDED, "")
    assert row.handled_at is not None
    _assert_paid_once(group)

    # when the worker handles the stored event twice anyway (the sweeper, a redelivered message)
    results = [webhook_event_handle_task.apply(args=[row.pk]).get() for _ in range(2)]

    # then nothing more moves: one capture per order, escrow holds the total once
    assert results == [WebhookEvent.Status.SUCCEEDED, WebhookEvent.Status.SUCCEEDED]
    _assert_paid_once(group)


def test_a_second_success_event_with_a_new_id_for_the_same_intent_changes_nothing(client, group):
    # given a group paid through its success event
    (event,) = _pay_at_stripe(group, "pm_card_visa")
    assert _deliver(client, event) == WebhookEvent.Status.SUCCEEDED
    before = _ledger_rows()

    # when the same success arrives again under another event id (stored as a new row)
    again = {**event, "id": event["id"] + "_again"}
    status = _deliver(client, again)

    # then it is handled without a second capture
    assert status == WebhookEvent.Status.SUCCEEDED
    assert WebhookEvent.objects.count() == 2
    assert _ledger_rows() == before
    _assert_paid_once(group)


def test_a_failure_event_arriving_after_the_success_changes_nothing(client, group):
    # given a declined card, then a good one: Stripe emits payment_failed, then succeeded
    failed, succeeded = _pay_at_stripe(group, "pm_card_chargeDeclined", "pm_card_visa")
    assert (failed["type"], succeeded["type"]) == ("payment_intent.payment_failed", "payment_intent.succeeded")
    assert failed["data"]["object"]["id"] == succeeded["data"]["object"]["id"]

    # when they arrive out of order: success first
    assert _deliver(client, succeeded) == WebhookEvent.Status.SUCCEEDED
    before = _ledger_rows()
    assert before

    # and then the older failure
    status = _deliver(client, failed)

    # then the late failure is taken without effect: still paid, ledger untouched
    assert status == WebhookEvent.Status.SUCCEEDED
    assert _ledger_rows() == before
    _assert_paid_once(group)
    assert not OrderEvent.objects.filter(order__group=group, kind="payment_failed").exists()


def test_a_failure_event_before_the_success_is_noted_and_the_success_still_pays(client, group):
    # given the same two events in Stripe's order
    failed, succeeded = _pay_at_stripe(group, "pm_card_chargeDeclined", "pm_card_visa")

    # when the failure arrives
    assert _deliver(client, failed) == WebhookEvent.Status.SUCCEEDED

    # then each order's timeline notes it and no money moved
    for order in group.orders.all():
        assert list(order.events.filter(kind="payment_failed").values_list("note", flat=True)) == [
            "Your card was declined."
        ]
    _assert_nothing_moved(group)

    # when the success arrives
    assert _deliver(client, succeeded) == WebhookEvent.Status.SUCCEEDED

    # then the group is paid once
    _assert_paid_once(group)


def test_a_success_arriving_before_the_intent_id_is_recorded_pays_the_group(client, group, monkeypatch):
    # given Stripe answers the create call only after the buyer has paid and the webhook has
    # been handled, while the group still carries the "creating" marker instead of the id
    real_create = stripe_client.payment_intent_create
    seen: dict = {}

    def create_and_pay_before_answering(**kwargs):
        intent = real_create(**kwargs)
        seen["marker"] = OrderGroup.objects.get(pk=group.pk).payment_intent_id
        stripe_client.payment_intent_confirm_test(payment_intent_id=intent["id"], payment_method="pm_card_visa")
        (event,) = local_events_take()
        seen["status"] = _deliver(client, event)
        seen["intent_id"] = intent["id"]
        return intent

    monkeypatch.setattr(stripe_client, "payment_intent_create", create_and_pay_before_answering)

    # when the group's PaymentIntent is created
    payment_intent_ensure(group_id=group.pk, placed=group)

    # then the early event paid the group once, and recording the id afterwards broke nothing
    assert seen["marker"] == "creating"
    assert seen["status"] == WebhookEvent.Status.SUCCEEDED
    _assert_paid_once(group)
    assert group.payment_intent_id == seen["intent_id"]


# --- Refused at the door ----------------------------------------------------------------


def test_a_tampered_body_is_refused_and_nothing_is_stored(client, group):
    # given a genuine signed success event
    (event,) = _pay_at_stripe(group, "pm_card_visa")
    body, signature = local_event_signed(event)

    # when the amount in the body is changed but the original signature is kept
    tampered = json.loads(body)
    tampered["data"]["object"]["amount"] = tampered["data"]["object"]["amount_received"] = 1
    response = _post(client, json.dumps(tampered).encode(), signature)

    # then it is refused with a reason, and nothing was stored or moved
    assert response.status_code == 400
    assert response.json()["error"].startswith("Signature check failed: ")
    assert "signature" in response.json()["error"].removeprefix("Signature check failed: ").lower()
    assert not WebhookEvent.objects.exists()
    _assert_nothing_moved(group)

    # control: the untouched body with the same signature is accepted
    assert _post(client, body, signature).status_code == 200
    assert WebhookEvent.objects.filter(stripe_id=event["id"]).exists()


def test_a_stale_signature_is_refused_and_nothing_is_stored(client, group):
    # given a genuine event body
    (event,) = _pay_at_stripe(group, "pm_card_visa")
    body = json.dumps(event).encode()
    stale = int(time.time()) - TOLERANCE_SECONDS - 60

    # when it arrives correctly signed, but with a timestamp older than the tolerance
    response = _post(client, body, _signature_by_hand(body, timestamp=stale))

    # then it is refused, saying why, and nothing was stored or moved
    assert response.status_code == 400
    assert response.json()["error"].startswith("Signature check failed: Timestamp outside the tolerance zone")
    assert not WebhookEvent.objects.exists()
    _assert_nothing_moved(group)

    # control: the same hand-built signature with a fresh timestamp is accepted
    fresh = _post(client, body, _signature_by_hand(body, timestamp=int(time.time())))
    assert fresh.status_code == 200
    assert fresh.json()["duplicate"] is False


def test_a_body_signed_with_another_secret_is_refused(client, group):
    (event,) = _pay_at_stripe(group, "pm_card_visa")
    body = json.dumps(event).encode()

    response = _post(client, body, _signature_by_hand(body, timestamp=int(time.time()), secret="whsec_not_ours"))

    assert response.status_code == 400
    assert response.json()["error"].startswith("Signature check failed: ")
    assert not WebhookEvent.objects.exists()
    _assert_nothing_moved(group)


@pytest.mark.parametrize("signature", [None, ""], ids=["no-header", "empty-header"])
def test_a_missing_signature_is_refused_with_a_message(client, group, signature):
    (event,) = _pay_at_stripe(group, "pm_card_visa")

    response = _post(client, json.dumps(event).encode(), signature)

    assert response.status_code == 400
    assert response.json() == {"error": "Missing Stripe-Signature header."}
    assert not WebhookEvent.objects.exists()
    _assert_nothing_moved(group)


@pytest.mark.parametrize("body", [b"not json at all", b'{"id": "evt_1", ', b"\xff\xfe\x00garbage", b""])
def test_a_signed_body_that_is_not_json_is_refused_and_kept_as_rejected(client, body):
    response = _post(client, body, _signature_by_hand(body, timestamp=int(time.time())))

    assert response.status_code == 400
    assert response.json() == {"error": "The body is not a Stripe event (invalid JSON)."}
    (row,) = WebhookEvent.objects.all()
    assert (row.status, row.error) == (WebhookEvent.Status.REJECTED, "The body is not a Stripe event (invalid JSON).")
    assert row.stripe_id.startswith("unidentified_")


@pytest.mark.parametrize("body", [b'{"hello": "world"}', b'{"id": "evt_no_type"}', b"[1, 2]"])
def test_a_signed_body_that_is_json_but_not_an_event_is_refused_and_kept_as_rejected(client, body):
    response = _post(client, body, _signature_by_hand(body, timestamp=int(time.time())))

    assert response.status_code == 400
    assert "not a Stripe event" in response.json()["error"]
    (row,) = WebhookEvent.objects.all()
    assert row.status == WebhookEvent.Status.REJECTED
    assert "not a Stripe event" in row.error


def test_an_oversized_body_is_refused_before_it_is_verified(client):
    body = b'{"pad": "' + b"x" * MAX_WEBHOOK_BYTES + b'"}'

    response = _post(client, body, _signature_by_hand(body, timestamp=int(time.time())))

    assert response.status_code == 413
    assert response.json() == {"error": "The event is too large."}
    assert not WebhookEvent.objects.exists()


# --- A success for the wrong amount -----------------------------------------------------


def test_a_success_for_the_wrong_amount_captures_nothing_and_refunds_the_buyer(
    client, group, stripe_fake, monkeypatch, django_capture_on_commit_callbacks
):
    # given a PaymentIntent for the group that is 1.00 short of its total, paid at Stripe
    short = group.total_minor - 100
    intent = stripe_client.payment_intent_create(
        amount_minor=short, group_id=group.pk, idempotency_key=f"test-short-{group.pk}"
    )
    OrderGroup.objects.filter(pk=group.pk).update(payment_intent_id=intent["id"])
    stripe_client.payment_intent_confirm_test(payment_intent_id=intent["id"], payment_method="pm_card_visa")
    (event,) = local_events_take()
    assert event["data"]["object"]["amount_received"] == short
    # the refund task runs here, in this process, when the handler's transaction commits
    monkeypatch.setattr(
        payment_intent_refund_whole_task, "delay", lambda *args: payment_intent_refund_whole_task.apply(args=args)
    )

    # when the success event is received and handled
    assert _post(client, *local_event_signed(event)).status_code == 200
    row = WebhookEvent.objects.get(stripe_id=event["id"])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        status = webhook_event_handle_task.apply(args=[row.pk]).get()

    # then the event is marked failed with the reason, and nothing was captured
    assert status == WebhookEvent.Status.FAILED
    row.refresh_from_db()
    assert row.status == WebhookEvent.Status.FAILED
    assert row.error == f"Paid {short} but the order group totals {group.total_minor}."
    assert row.handled_at is not None
    _assert_nothing_moved(group)
    assert not Refund.objects.exists()  # no order was paid, so there is no order refund
    # and the buyer's whole payment went back through Stripe, once
    assert len(callbacks) == 1
    ((asked, answered, refund),) = stripe_fake.refunds()
    assert asked == {"payment_intent": intent["id"], "amount": str(short)}
    assert (answered, refund["status"], refund["amount"]) == (200, "succeeded", short)

    # when the failed event is handled again (a redelivered task message)
    with django_capture_on_commit_callbacks(execute=True):
        webhook_event_handle_task.apply(args=[row.pk])

    # then still nothing captured, and the refund's idempotency key kept it to one refund at Stripe
    _assert_nothing_moved(group)
    assert {answer["id"] for _, _, answer in stripe_fake.refunds()} == {refund["id"]}
