"""Webhooks that cannot be applied: malformed signed bodies rejected and kept with the
reason, a dead letter after a few failed attempts with a staff alert, and amounts taken from
Stripe's own PaymentIntent, never from an event body."""

import copy
import uuid

import pytest

from orders.models import OrderGroup
from payments import services, stripe_client
from payments.local_stripe import local_event_signed, local_events_take
from payments.models import LedgerTransaction, StaffAlert, WebhookEvent
from payments.services import payment_intent_ensure
from payments.tasks import payment_intent_refund_whole_task, payments_sweep_task, webhook_event_handle_task
from tests.factories import UserFactory, make_product
from tests.helpers import place

pytestmark = pytest.mark.django_db

WEBHOOK_URL = "/payments/stripe/webhook/"


def _post(client, event: dict):
    body, signature = local_event_signed(event)
    return client.post(WEBHOOK_URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)


@pytest.fixture
def group():
    return place(UserFactory(), (make_product(price_minor=6800, stock=5).variants.get(), 1))


def _paid_event(group) -> dict:
    group = payment_intent_ensure(group_id=group.pk, placed=group)
    stripe_client.payment_intent_confirm_test(payment_intent_id=group.payment_intent_id, payment_method="pm_card_visa")
    (event,) = [e for e in local_events_take() if e["type"] == "payment_intent.succeeded"]
    return event


def _forged(event: dict, **object_changes) -> dict:
    forged = copy.deepcopy(event)
    forged["id"] = f"evt_{uuid.uuid4().hex}"
    forged["data"]["object"].update(object_changes)
    return forged


def _unchanged(group) -> None:
    group.refresh_from_db()
    assert group.status == OrderGroup.Status.PENDING_PAYMENT
    assert not LedgerTransaction.objects.exists()


# --- Malformed signed bodies -------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e.update(data=[1, 2]), "no data.object"),
        (lambda e: e.update(created="yesterday"), "created time is not a Unix timestamp"),
        (lambda e: e["data"]["object"].update(metadata="group 7"), "metadata is not an object"),
        (lambda e: [e["data"]["object"].pop(k) for k in ("amount", "amount_received")], "no whole-number amount"),
        (lambda e: e["data"]["object"].update(amount="68.00", amount_received="68.00"), "no whole-number amount"),
        (lambda e: e["data"]["object"]["metadata"].update(order_group_id="x1"), "order_group_id is not an id"),
        (lambda e: e["data"]["object"].update(id=None), "not a PaymentIntent"),
    ],
)
def test_a_malformed_signed_event_is_rejected_with_its_reason_and_never_retried(client, group, change, reason):
    # given a genuine success event, changed into a malformed one and signed
    event = _paid_event(group)
    change(event)
    # when it arrives
    response = _post(client, event)
    # then it is refused with the reason, kept as rejected, and nothing moved
    assert response.status_code == 400
    assert reason in response.json()["error"]
    row = WebhookEvent.objects.get(stripe_id=event["id"])
    assert row.status == WebhookEvent.Status.REJECTED
    assert reason in row.error
    _unchanged(group)
    # and neither the handler nor the sweeper takes it up again
    assert webhook_event_handle_task.apply(args=[row.pk]).get() == WebhookEvent.Status.REJECTED
    WebhookEvent.objects.filter(pk=row.pk).update(received_at=row.received_at.replace(year=2000))
    assert payments_sweep_task.apply().get()["events"] == 0


def test_an_event_for_a_group_that_is_not_ours_is_ignored_at_once(client, group):
    # given a real payment at Stripe for a group that records another PaymentIntent
    other = _paid_event(group)
    OrderGroup.objects.filter(pk=group.pk).update(payment_intent_id="pi_someone_elses")
    # when its success event arrives
    response = _post(client, other)
    # then it is stored as ignored on arrival (no TransactionManagementError, no retry)
    assert response.status_code == 200, response.content
    row = WebhookEvent.objects.get(stripe_id=other["id"])
    assert (row.status, row.attempts) == (WebhookEvent.Status.IGNORED, 0)
    _unchanged(group)


# --- Dead letter --------------------------------------------------------------------------


@pytest.fixture
def exploding_handler():
    """An event type whose handler always fails (a bug, or data it cannot take)."""

    def explode(obj):
        raise RuntimeError("the handler cannot take this")

    services.webhook_handler_register("test.explodes", explode)
    yield "test.explodes"
    services.webhooks.WEBHOOK_HANDLERS.pop("test.explodes")


def test_an_event_that_keeps_failing_goes_to_the_dead_letter_with_a_staff_alert(
    client, settings, exploding_handler, mailoutbox, django_capture_on_commit_callbacks
):
    # given three attempts before the dead letter, and a staff member to tell
    settings.MARKETPLACE_WEBHOOK_MAX_ATTEMPTS = 3
    staff = UserFactory(is_staff=True)
    event = {"id": "evt_explodes_1", "object": "event", "type": exploding_handler, "created": 1_700_000_000,
             "data": {"object": {"id": "obj_1"}}}  # fmt: skip
    # when it arrives (attempt 1) and the worker retries it
    assert _post(client, event).status_code == 200
    row = WebhookEvent.objects.get(stripe_id=event["id"])
    assert (row.status, row.attempts) == (WebhookEvent.Status.RECEIVED, 1)
    assert webhook_event_handle_task.apply(args=[row.pk]).get() == WebhookEvent.Status.RECEIVED
    with django_capture_on_commit_callbacks(execute=True):
        status = webhook_event_handle_task.apply(args=[row.pk]).get()
    # then the third failure puts it in the dead letter, with the last error kept
    assert status == WebhookEvent.Status.DEAD_LETTER
    row.refresh_from_db()
    assert row.attempts == 3
    assert row.error == "RuntimeError: the handler cannot take this"
    # and staff have an alert, by email too
    (alert,) = StaffAlert.objects.all()
    assert (alert.kind, alert.subject_ref, alert.resolved_at) == ("webhook_dead_letter", event["id"], None)
    assert [m.to for m in mailoutbox] == [[staff.email]]
    assert event["id"] in mailoutbox[0].subject
    # and nothing retries it any more
    assert webhook_event_handle_task.apply(args=[row.pk]).get() == WebhookEvent.Status.DEAD_LETTER
    WebhookEvent.objects.filter(pk=row.pk).update(received_at=row.received_at.replace(year=2000))
    assert payments_sweep_task.apply().get()["events"] == 0
    row.refresh_from_db()
    assert row.attempts == 3
    assert StaffAlert.objects.count() == 1


def test_staff_resolve_an_alert(exploding_handler):
    alert = services.staff_alert_open(kind="webhook_dead_letter", subject_ref="evt_1", title="t", detail="d")
    assert services.staff_alert_open(kind="webhook_dead_letter", subject_ref="evt_1", title="t2").pk == alert.pk
    services.staff_alert_resolve(alert_id=alert.pk)
    alert.refresh_from_db()
    assert alert.resolved_at is not None


# --- Amounts from Stripe, never from the body ---------------------------------------------


@pytest.fixture
def refunds_run_here(monkeypatch):
    monkeypatch.setattr(
        payment_intent_refund_whole_task, "delay", lambda *args: payment_intent_refund_whole_task.apply(args=args)
    )


def test_a_forged_wrong_amount_success_for_an_unpaid_intent_refunds_nothing(
    client, group, stripe_fake, refunds_run_here, django_capture_on_commit_callbacks
):
    # given a group whose PaymentIntent exists at Stripe but is not paid
    group = payment_intent_ensure(group_id=group.pk, placed=group)
    forged = {"id": "evt_forged_1", "object": "event", "type": "payment_intent.succeeded", "created": 1_700_000_000,
              "data": {"object": {"id": group.payment_intent_id, "object": "payment_intent", "amount": 1,
                                  "amount_received": 1, "status": "succeeded",
                                  "metadata": {"order_group_id": str(group.pk)}}}}  # fmt: skip
    # when a success event signed with the (test-mode) secret claims a wrong amount
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, forged)
    # then Stripe's own record decides: not paid, so the event is rejected and nothing refunded
    assert response.status_code == 400
    assert "not succeeded" in response.json()["error"]
    assert WebhookEvent.objects.get(stripe_id="evt_forged_1").status == WebhookEvent.Status.REJECTED
    assert stripe_fake.refunds() == []
    _unchanged(group)


def test_a_forged_wrong_amount_success_before_the_real_one_pays_the_real_amount_and_refunds_nothing(
    client, group, stripe_fake, refunds_run_here, django_capture_on_commit_callbacks
):
    # given a real payment at Stripe, and a forged copy of its event with a wrong amount first
    real = _paid_event(group)
    forged = _forged(real, amount=1, amount_received=1)
    # when the forged event, then the real one, arrive
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, forged).status_code == 200
        assert _post(client, real).status_code == 200
    # then the group is paid once, for what Stripe captured, and nothing went back
    group.refresh_from_db()
    assert group.status == OrderGroup.Status.PAID
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.PAYMENT_CAPTURED).count() == 1
    assert stripe_fake.refunds() == []
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {WebhookEvent.Status.SUCCEEDED}


def test_a_refused_payment_refunds_what_stripe_captured_not_the_event_amount(
    client, group, stripe_fake, refunds_run_here, django_capture_on_commit_callbacks
):
    # given a PaymentIntent paid at Stripe for less than the group's total
    short = group.total_minor - 100
    intent = stripe_client.payment_intent_create(amount_minor=short, group_id=group.pk, idempotency_key="short")
    OrderGroup.objects.filter(pk=group.pk).update(payment_intent_id=intent["id"])
    stripe_client.payment_intent_confirm_test(payment_intent_id=intent["id"], payment_method="pm_card_visa")
    (event,) = local_events_take()
    # when its event arrives claiming the full total
    lying = _forged(event, amount=group.total_minor, amount_received=group.total_minor)
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, lying).status_code == 200
    # then the payment is refused, and the refund is Stripe's captured amount
    assert WebhookEvent.objects.get(stripe_id=lying["id"]).status == WebhookEvent.Status.FAILED
    ((asked, answered, refund),) = stripe_fake.refunds()
    assert asked == {"payment_intent": intent["id"], "amount": str(short)}
    assert answered == 200
    _unchanged(group)
