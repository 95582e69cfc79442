"""A checkout's PaymentIntent over its life: created once even when a process dies in the
middle of the call, cancelled at Stripe when the checkout expires, and a payment that still
arrives for an expired checkout refunded once. Stripe is the local one, through the SDK."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import Order, OrderGroup
from payments import stripe_client
from payments.local_stripe import local_event_signed, local_events_take
from payments.models import LedgerEntry, Refund, WebhookEvent
from payments.services import (
    PAYMENT_INTENT_CLAIM_STALE,
    PaymentIntentPending,
    order_group_expire,
    payment_intent_cancel,
    payment_intent_ensure,
    reconcile,
)
from payments.tasks import payment_intent_cancel_task, payment_intent_refund_whole_task
from shops.models import Variant
from tests.factories import UserFactory, make_product
from tests.helpers import deliver_events, place

pytestmark = pytest.mark.django_db


@pytest.fixture
def variant():
    return make_product(price_minor=4200, stock=3).variants.get()


@pytest.fixture
def group(variant):
    return place(UserFactory(), (variant, 2))


@pytest.fixture
def tasks_run_here(monkeypatch):
    """The tasks these flows enqueue run in this process when their transaction commits."""
    for task in (payment_intent_cancel_task, payment_intent_refund_whole_task):
        monkeypatch.setattr(task, "delay", lambda *args, task=task: task.apply(args=args, throw=True))


class ProcessDied(BaseException):
    """kill -9 in the middle of a request: no except clause and no cleanup runs."""


def _expire(group) -> None:
    OrderGroup.objects.filter(pk=group.pk).update(pay_by=timezone.now() - timedelta(seconds=1))
    assert order_group_expire(group_id=group.pk)


# --- A crash between Stripe's answer and recording it (issue 4) ----------------------------


def test_a_claim_left_by_a_dead_process_is_taken_again_after_the_timeout_and_finds_the_same_intent(
    client, group, stripe_fake, monkeypatch
):
    # given a request that created the PaymentIntent at Stripe and died before recording it
    real_create = stripe_client.payment_intent_create
    created: dict = {}

    def create_then_die(**kwargs):
        created.update(real_create(**kwargs))
        raise ProcessDied

    monkeypatch.setattr(stripe_client, "payment_intent_create", create_then_die)
    with pytest.raises(ProcessDied):
        payment_intent_ensure(group_id=group.pk, placed=group)
    monkeypatch.setattr(stripe_client, "payment_intent_create", real_create)
    group.refresh_from_db()
    assert (group.payment_intent_id, group.payment_client_secret) == ("creating", "")

    # when the buyer comes back while the claim is recent
    again = payment_intent_ensure(group_id=group.pk)

    # then Stripe is not called: the claim may still belong to a request waiting for its answer
    assert again.payment_intent_id == "creating"
    assert len(stripe_fake.to("POST", "/v1/payment_intents")) == 1

    # when the claim is older than the timeout
    OrderGroup.objects.filter(pk=group.pk).update(
        payment_intent_started_at=timezone.now() - PAYMENT_INTENT_CLAIM_STALE - timedelta(seconds=1)
    )
    recovered = payment_intent_ensure(group_id=group.pk)

    # then the create call goes again with the same idempotency key, and Stripe answers with the
    # PaymentIntent it made before the crash: the group still has exactly one
    (first, second) = stripe_fake.to("POST", "/v1/payment_intents")
    assert first[0] == second[0] == f"pi-group-{group.pk}"
    assert (first[3], second[3]) == (False, True)
    assert (recovered.payment_intent_id, recovered.payment_client_secret) == (created["id"], created["client_secret"])
    group.refresh_from_db()
    assert (group.payment_intent_id, group.payment_client_secret) == (created["id"], created["client_secret"])

    # and the buyer can pay it: the group is paid once
    stripe_client.payment_intent_confirm_test(payment_intent_id=group.payment_intent_id, payment_method="pm_card_visa")
    deliver_events(client)
    group.refresh_from_db()
    assert group.status == OrderGroup.Status.PAID
    assert reconcile().ok


def test_a_claim_that_is_not_stale_is_never_taken_twice(group, stripe_fake):
    # given a claim made a moment ago by another request, still waiting for Stripe
    OrderGroup.objects.filter(pk=group.pk).update(
        payment_intent_id="creating", payment_intent_started_at=timezone.now() - PAYMENT_INTENT_CLAIM_STALE / 2
    )

    # when other requests ask for the PaymentIntent
    answers = [payment_intent_ensure(group_id=group.pk).payment_intent_id for _ in range(3)]

    # then none of them calls Stripe
    assert answers == ["creating"] * 3
    assert stripe_fake.calls == []


def test_the_placing_request_creates_the_payment_intent_once_and_a_repeated_checkout_does_not(variant, stripe_fake):
    # given a group just placed: born claimed by the request that placed it
    buyer = UserFactory()
    group = place(buyer, (variant, 1), key="k-1")
    assert (group.placed_now, group.payment_intent_id) == (True, "creating")

    # when that request creates its PaymentIntent, and calls again with the same instance
    first = payment_intent_ensure(group_id=group.pk, placed=group)
    again = payment_intent_ensure(group_id=group.pk, placed=group)
    # and the same checkout is repeated (a retry): it gets the group, not placed now
    repeat = place(buyer, (variant, 1), key="k-1")

    # then Stripe was asked once, and everyone sees the one PaymentIntent
    assert len(stripe_fake.to("POST", "/v1/payment_intents")) == 1
    assert first.payment_intent_id.startswith("pi_")
    assert again.payment_intent_id == first.payment_intent_id
    assert (repeat.pk, repeat.placed_now) == (group.pk, False)
    assert payment_intent_ensure(group_id=repeat.pk, placed=repeat).payment_intent_id == first.payment_intent_id
    assert len(stripe_fake.to("POST", "/v1/payment_intents")) == 1


# --- An expired checkout's PaymentIntent (issue 4) -----------------------------------------


def test_an_expired_checkout_cancels_its_payment_intent_so_it_can_no_longer_be_paid(
    group, variant, stripe_fake, tasks_run_here, django_capture_on_commit_callbacks
):
    # given a checkout with its PaymentIntent, past its pay-by time
    group = payment_intent_ensure(group_id=group.pk, placed=group)

    # when the sweeper expires it
    with django_capture_on_commit_callbacks(execute=True) as enqueued:
        _expire(group)

    # then after commit its PaymentIntent is cancelled at Stripe, with a key from the group's id
    assert len(enqueued) == 1
    ((key, status, answer, _),) = stripe_fake.to("POST", f"/v1/payment_intents/{group.payment_intent_id}/cancel")
    assert (key, status, answer["status"], answer["cancellation_reason"]) == (
        f"pi-cancel-group-{group.pk}", 200, "canceled", "abandoned"
    )  # fmt: skip
    variant.refresh_from_db()
    assert variant.stock == 3

    # when the buyer tries to pay it anyway (a payment page left open)
    with pytest.raises(stripe_client.StripeFailure) as refused:
        stripe_client.payment_intent_confirm_test(
            payment_intent_id=group.payment_intent_id, payment_method="pm_card_visa"
        )

    # then Stripe refuses, nothing is charged and no event comes
    assert refused.value.code == "payment_intent_unexpected_state"
    assert local_events_take() == []

    # when the cancel task runs again (a redelivered message)
    assert payment_intent_cancel_task.apply(args=[group.pk], throw=True).get() == "canceled"

    # then nothing changes
    group.refresh_from_db()
    assert group.status == OrderGroup.Status.EXPIRED
    assert not LedgerEntry.objects.exists()


def test_an_expired_checkout_whose_payment_intent_creation_failed_calls_nothing(
    group, stripe_fake, django_capture_on_commit_callbacks
):
    # given a checkout whose create call failed at Stripe (the claim is given back)
    OrderGroup.objects.filter(pk=group.pk).update(payment_intent_id="")

    with django_capture_on_commit_callbacks(execute=True) as enqueued:
        _expire(group)

    assert enqueued == []
    assert stripe_fake.calls == []


def test_an_expired_checkout_whose_placing_request_died_before_calling_stripe_fake_nothing(
    group, stripe_fake, tasks_run_here, django_capture_on_commit_callbacks
):
    # given a checkout born claimed by its request, which died before calling Stripe: its
    # "creating" marker is older than the claim timeout when the group expires
    OrderGroup.objects.filter(pk=group.pk).update(
        payment_intent_started_at=timezone.now() - PAYMENT_INTENT_CLAIM_STALE - timedelta(seconds=1)
    )

    with django_capture_on_commit_callbacks(execute=True) as enqueued:
        _expire(group)

    # then the cancel task finds nothing anybody could pay, and calls nothing
    assert len(enqueued) == 1
    assert stripe_fake.calls == []
    assert payment_intent_cancel_task.apply(args=[group.pk], throw=True).get() == ""


def test_an_expired_checkout_whose_payment_intent_is_being_created_is_retried(group, stripe_fake):
    # given a group that expired while its creator still waits for Stripe (a recent marker)
    OrderGroup.objects.filter(pk=group.pk).update(status=OrderGroup.Status.EXPIRED)

    # then the cancel waits for the id: the task retries
    with pytest.raises(PaymentIntentPending):
        payment_intent_cancel(group_id=group.pk)
    assert stripe_fake.calls == []


def test_a_payment_that_arrives_after_the_checkout_expired_is_refunded_once(
    client, group, variant, stripe_fake, tasks_run_here, django_capture_on_commit_callbacks
):
    # given a buyer who paid at Stripe just before the checkout expired, so the cancel came too late
    group = payment_intent_ensure(group_id=group.pk, placed=group)
    stripe_client.payment_intent_confirm_test(payment_intent_id=group.payment_intent_id, payment_method="pm_card_visa")
    (event,) = local_events_take()
    with django_capture_on_commit_callbacks(execute=True):
        _expire(group)
    ((_, status, answer, _),) = stripe_fake.to("POST", "/cancel")
    assert (status, answer["error"]["code"]) == (400, "payment_intent_unexpected_state")

    # when the success event arrives, twice (Stripe retries)
    body, signature = local_event_signed(event)
    with django_capture_on_commit_callbacks(execute=True) as enqueued:
        responses = [
            client.post("/payments/stripe/webhook/", data=body, content_type="application/json",
                        HTTP_STRIPE_SIGNATURE=signature)
            for _ in range(2)
        ]  # fmt: skip

    # then both are acknowledged, the event is stored once as failed with the reason, and
    # nothing was captured: the group stays expired, its items on sale
    assert [r.json()["duplicate"] for r in responses] == [False, True]
    row = WebhookEvent.objects.get(stripe_id=event["id"])
    assert (row.status, row.error) == (
        WebhookEvent.Status.FAILED, "The payment arrived after the checkout expired and its items went back on sale."
    )  # fmt: skip
    group.refresh_from_db()
    assert group.status == OrderGroup.Status.EXPIRED
    assert set(Order.objects.filter(group=group).values_list("status", flat=True)) == {Order.Status.EXPIRED}
    assert Variant.objects.get(pk=variant.pk).stock == 3
    assert not LedgerEntry.objects.exists()
    assert not Refund.objects.exists()  # no order was paid, so no order refund either
    # and the whole payment went back through Stripe, once
    assert len(enqueued) == 1
    ((key, status, refund, _),) = stripe_fake.to("POST", "/v1/refunds")
    assert (key, status, refund["amount"]) == (f"refund-whole-{group.payment_intent_id}", 200, group.total_minor)
    assert reconcile().ok
