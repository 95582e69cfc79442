"""Missed deadlines under a controlled clock, and two beat instances sweeping at once.

The clock is django.utils.timezone.now, frozen when a test starts and moved by hand. Each
deadline runs for exactly its configured time; when it passes, its default outcome applies
once, even when two sweepers on their own database connections both saw it due."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client

from disputes import services, tasks
from disputes.models import AfterSalesRequest, CaseEvent, Dispute, Sanction
from marketplace.errors import ConflictError, DomainError
from orders import services as order_services
from orders.models import Order, OrderEvent
from payments.models import PayoutHold, Refund
from shops.models import Shop
from tests.factories import UserFactory, make_shop
from tests.helpers import books_ok, clock_freeze, race, shipped_sale

Status = AfterSalesRequest.Status
ASKED, OFFER = 6_000, 2_000

# Each waiting state: the setting that sets how long its deadline runs, in which unit, and
# what happens when it passes (the request's final status, the refund, the timeline event).
DEADLINES = {
    "open": ("MARKETPLACE_MERCHANT_RESPONSE_HOURS", "hours", Status.REFUNDED, ASKED, "deadline_refund"),
    "proposed": ("MARKETPLACE_BUYER_ANSWER_DAYS", "days", Status.REFUNDED, OFFER, "deadline_offer"),
    "rejected": ("MARKETPLACE_BUYER_ANSWER_DAYS", "days", Status.CLOSED, 0, "deadline_closed"),
    "return_pending": ("MARKETPLACE_RETURN_SHIP_DAYS", "days", Status.CLOSED, 0, "deadline_closed"),
    "return_shipped": ("MARKETPLACE_RETURN_RECEIVE_DAYS", "days", Status.REFUNDED, ASKED, "deadline_refund"),
}


def _duration(state: str) -> timedelta:
    name, unit = DEADLINES[state][:2]
    return timedelta(**{unit: getattr(settings, name)})


@pytest.fixture
def clock(monkeypatch):
    return clock_freeze(monkeypatch)


def _request_waiting_in(client, state: str, *, price: int = 10_000):
    """A paid and shipped order (`price` + shipping) with a request for 6,000 brought to `state`."""
    order, _ = shipped_sale(client, price=price)
    kind = "return_refund" if state.startswith("return") else "partial_refund"
    request = services.after_sales_open(
        buyer=order.buyer,
        line_id=order.lines.get().pk,
        kind=kind,
        reason="not_as_described",
        amount_minor=ASKED,
        description="The colour is not the one in the photos.",
    )
    merchant = order.shop.owner
    if state == "proposed":
        services.after_sales_propose(request_id=request.pk, merchant=merchant, amount_minor=OFFER, note="A third?")
    elif state == "rejected":
        services.after_sales_reject(request_id=request.pk, merchant=merchant, note="The colour matches the photos.")
    elif state.startswith("return"):
        services.after_sales_accept(request_id=request.pk, merchant=merchant, return_address="9 Return Lane, HZ")
    if state == "return_shipped":
        services.after_sales_return_ship(
            request_id=request.pk, buyer=order.buyer, carrier="YTO", tracking_number="YT9988"
        )
    request.refresh_from_db()
    assert request.status == state
    return order, request


def _escalated_dispute(client):
    order, request = _request_waiting_in(client, "rejected")
    dispute = services.after_sales_escalate(request_id=request.pk, user=order.buyer, note="The colour is clearly off.")
    return order, request, dispute


# --- Each deadline runs for exactly its configured time ------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("state", list(DEADLINES))
def test_each_deadline_runs_its_configured_time_then_applies_its_default_once(client, clock, state):
    # given
    final, refunded, event = DEADLINES[state][2:]
    order, request = _request_waiting_in(client, state)
    # when the clock stops one second short of the deadline
    clock.advance(_duration(state) - timedelta(seconds=1))
    # then nothing happens
    assert tasks.after_sales_deadlines_task.apply().get() == 0
    request.refresh_from_db()
    assert request.status == state
    # when it passes, the sweeper applies the default; a second sweep finds nothing
    clock.advance(timedelta(seconds=1))
    assert tasks.after_sales_deadlines_task.apply().get() == 1
    assert tasks.after_sales_deadlines_task.apply().get() == 0
    # then
    request.refresh_from_db()
    order.refresh_from_db()
    assert (request.status, request.refunded_minor, request.closed_at) == (final, refunded, clock.now)
    assert order.refunded_minor == refunded and not order.is_held
    assert list(Refund.objects.filter(order=order).values_list("amount_minor", flat=True)) == (
        [refunded] if refunded else []
    )
    assert CaseEvent.objects.filter(request=request, kind=event).count() == 1
    books_ok()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("default", "refunded", "status"), [("full_refund", ASKED, "refunded"), ("release", 0, "closed")]
)
def test_a_dispute_nobody_rules_gets_the_default_on_its_sixtieth_day(
    client, clock, settings, default, refunded, status
):
    # given
    settings.MARKETPLACE_DISPUTE_DEFAULT_OUTCOME = default
    order, request, dispute = _escalated_dispute(client)
    # when 60 days less a second pass, nothing happens
    clock.advance(timedelta(days=settings.MARKETPLACE_DISPUTE_AUTOCLOSE_DAYS) - timedelta(seconds=1))
    assert tasks.disputes_fallback_task.apply().get() == 0
    # when the 60th day ends, the default applies once
    clock.advance(timedelta(seconds=1))
    assert tasks.disputes_fallback_task.apply().get() == 1
    assert tasks.disputes_fallback_task.apply().get() == 0
    # then
    dispute.refresh_from_db()
    request.refresh_from_db()
    order.refresh_from_db()
    assert (dispute.status, dispute.outcome, dispute.ruled_by, dispute.ruled_at) == (
        Dispute.Status.RULED,
        default,
        None,
        clock.now,
    )
    assert (request.status, request.refunded_minor, order.refunded_minor) == (status, refunded, refunded)
    assert not order.is_held
    books_ok()


@pytest.mark.django_db
def test_an_escalated_request_waits_for_the_ruling_and_its_request_deadline_never_fires(client, clock):
    # given an escalated request: the staff decide, no request deadline runs
    order, request, dispute = _escalated_dispute(client)
    request.refresh_from_db()
    assert request.deadline_at is None
    # when a long time passes, short of the 60 days
    clock.advance(timedelta(days=settings.MARKETPLACE_DISPUTE_AUTOCLOSE_DAYS - 1))
    # then neither sweeper does anything
    assert tasks.after_sales_deadlines_task.apply().get() == 0
    assert tasks.disputes_fallback_task.apply().get() == 0
    request.refresh_from_db()
    order.refresh_from_db()
    assert request.status == Status.ESCALATED and order.is_held and order.refunded_minor == 0


@pytest.mark.django_db
def test_a_sanction_ends_on_its_end_date_once(clock):
    # given a suspension and a payout hold ending in 30 days
    shop = make_shop()
    admin = UserFactory(is_staff=True)
    ends_at = clock.now + timedelta(days=30)
    for kind in (Sanction.Kind.SUSPENSION, Sanction.Kind.PAYOUT_HOLD):
        services.sanction_impose(
            shop_id=shop.pk, kind=kind, reason="Repeated counterfeit goods.", ends_at=ends_at, admin=admin
        )
    clock.advance(timedelta(days=30) - timedelta(seconds=1))
    assert tasks.sanctions_expire_task.apply().get() == 0
    shop.refresh_from_db()
    assert shop.status == Shop.Status.SUSPENDED
    # when the end date comes
    clock.advance(timedelta(seconds=1))
    assert tasks.sanctions_expire_task.apply().get() == 2
    assert tasks.sanctions_expire_task.apply().get() == 0
    # then both end, and the history keeps them
    shop.refresh_from_db()
    assert shop.status == Shop.Status.ACTIVE
    assert list(Sanction.objects.filter(shop=shop).values_list("ended_at", "lifted_at")) == [(clock.now, None)] * 2
    assert not PayoutHold.objects.filter(shop=shop, lifted_at__isnull=True).exists()


# --- Two beat instances at once -------------------------------------------------------------


@pytest.fixture
def both_beats_see_it_due(monkeypatch):
    """The worst case for two beat instances: each has claimed the same due ids before
    either applies them. Claims are taken one after the other (so the second is not just
    skipped by SKIP LOCKED), then both sweepers go on together."""
    real = tasks._due_ids
    turn = threading.Lock()
    together = threading.Barrier(2)

    def due_ids(queryset):
        with turn:
            ids = real(queryset)
        together.wait()
        return ids

    monkeypatch.setattr(tasks, "_due_ids", due_ids)


def _two_beats(task) -> list:
    return race(2, lambda i: task.apply().get())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("state", list(DEADLINES))
def test_two_beats_apply_a_missed_request_deadline_once(clock, both_beats_see_it_due, state):
    # given
    final, refunded, event = DEADLINES[state][2:]
    order, request = _request_waiting_in(Client(), state)
    clock.advance(_duration(state))
    # when two sweepers run at once
    results = _two_beats(tasks.after_sales_deadlines_task)
    # then one applied the outcome and the other found it done
    assert sorted(results) == [0, 1], results
    request.refresh_from_db()
    order.refresh_from_db()
    assert (request.status, request.refunded_minor, order.refunded_minor) == (final, refunded, refunded)
    assert Refund.objects.filter(order=order).count() == (1 if refunded else 0)
    assert CaseEvent.objects.filter(request=request, kind=event).count() == 1
    assert OrderEvent.objects.filter(order=order, kind="hold_released").count() == 1
    assert not order.is_held
    books_ok()


@pytest.mark.django_db(transaction=True)
def test_two_beats_apply_the_sixty_day_fallback_once(clock, both_beats_see_it_due):
    order, request, dispute = _escalated_dispute(Client())
    clock.advance(timedelta(days=settings.MARKETPLACE_DISPUTE_AUTOCLOSE_DAYS))

    results = _two_beats(tasks.disputes_fallback_task)

    assert sorted(results) == [0, 1], results
    dispute.refresh_from_db()
    order.refresh_from_db()
    assert (dispute.status, dispute.outcome, dispute.outcome_minor) == (Dispute.Status.RULED, "full_refund", ASKED)
    assert list(Refund.objects.filter(order=order).values_list("amount_minor", flat=True)) == [ASKED]
    assert CaseEvent.objects.filter(dispute=dispute, kind="ruled").count() == 1
    assert OrderEvent.objects.filter(order=order, kind="hold_released").count() == 1
    assert order.refunded_minor == ASKED and not order.is_held
    books_ok()


@pytest.mark.django_db(transaction=True)
def test_two_beats_end_a_sanction_once(clock, both_beats_see_it_due):
    shop = make_shop()
    admin = UserFactory(is_staff=True)
    sanction = services.sanction_impose(
        shop_id=shop.pk,
        kind=Sanction.Kind.PAYOUT_HOLD,
        admin=admin,
        reason="Repeated counterfeit goods.",
        ends_at=clock.now + timedelta(days=7),
    )
    clock.advance(timedelta(days=7))

    results = _two_beats(tasks.sanctions_expire_task)

    assert sorted(results) == [0, 1], results
    sanction.refresh_from_db()
    assert sanction.ended_at == clock.now
    assert PayoutHold.objects.get(pk=sanction.payout_hold_id).lifted_at == clock.now


@pytest.mark.django_db(transaction=True)
def test_without_the_row_lock_two_beats_refund_twice_so_the_race_test_can_fail(
    clock, both_beats_see_it_due, monkeypatch
):
    """The control: the same race against a service that reads the request without locking
    it, each sweeper deciding from what it read, refunds the buyer twice."""
    order, request = _request_waiting_in(Client(), "open", price=100_000)
    clock.advance(_duration("open"))
    both_read = threading.Barrier(2)

    def unlocked(request_id):
        request = AfterSalesRequest.objects.select_related("shop", "line").get(pk=request_id)
        order = Order.objects.get(pk=request.order_id)
        both_read.wait()
        return order, request

    monkeypatch.setattr(services, "_lock", unlocked)

    results = _two_beats(tasks.after_sales_deadlines_task)

    assert results == [1, 1], results
    assert list(Refund.objects.filter(order=order).values_list("amount_minor", flat=True)) == [ASKED, ASKED]


@pytest.mark.django_db(transaction=True)
def test_a_shop_answering_just_as_its_deadline_passes_gets_one_outcome(clock):
    # given a request whose reply deadline has just passed
    order, request = _request_waiting_in(Client(), "open")
    clock.advance(_duration("open"))

    def work(i):
        if i == 0:
            return tasks.after_sales_deadlines_task.apply().get()
        return services.after_sales_reject(request_id=request.pk, merchant=order.shop.owner, note="Too late maybe?")

    # when the sweeper and the shop's rejection come at once
    swept, rejected = race(2, work)
    # then exactly one of them happened: the refund by default, or the rejection
    request.refresh_from_db()
    order.refresh_from_db()
    if swept == 1:
        assert isinstance(rejected, ConflictError), rejected
        assert (request.status, order.refunded_minor, Refund.objects.count()) == (Status.REFUNDED, ASKED, 1)
    else:
        assert swept == 0 and isinstance(rejected, AfterSalesRequest), (swept, rejected)
        assert (request.status, order.refunded_minor, Refund.objects.count()) == (Status.REJECTED, 0, 0)
    assert CaseEvent.objects.filter(request=request, kind__in=["deadline_refund", "rejected"]).count() == 1
    books_ok()


@pytest.mark.django_db(transaction=True)
def test_a_ruling_and_the_fallback_at_once_give_one_outcome(clock):
    # given a dispute on its 60th day, and a member of staff ruling on it at that moment
    order, request, dispute = _escalated_dispute(Client())
    admin = UserFactory(is_staff=True)
    clock.advance(timedelta(days=settings.MARKETPLACE_DISPUTE_AUTOCLOSE_DAYS))

    def work(i):
        if i == 0:
            return tasks.disputes_fallback_task.apply().get()
        return services.dispute_rule(
            dispute_id=dispute.pk, admin=admin, outcome="release", reason="The photos match the listing."
        )

    # when both come at once
    fallen_back, ruled = race(2, work)
    # then exactly one decided it
    dispute.refresh_from_db()
    order.refresh_from_db()
    if fallen_back == 1:
        assert isinstance(ruled, ConflictError) and str(ruled) == "This dispute is already closed.", ruled
        assert (dispute.outcome, dispute.ruled_by, order.refunded_minor) == ("full_refund", None, ASKED)
    else:
        assert fallen_back == 0 and isinstance(ruled, Dispute), (fallen_back, ruled)
        assert (dispute.outcome, dispute.ruled_by, order.refunded_minor) == ("release", admin, 0)
    assert CaseEvent.objects.filter(dispute=dispute, kind="ruled").count() == 1
    assert Refund.objects.filter(order=order).count() == (1 if fallen_back else 0)
    books_ok()


def _two_line_order(client):
    """A paid and shipped order of two lines, 60.00 and 40.00."""
    from tests.factories import make_product
    from tests.helpers import pay, place

    a = make_product(price_minor=6_000, stock=5)
    b = make_product(price_minor=4_000, stock=5, shop=a.shop)
    order = pay(client, place(UserFactory(), (a.variants.get(), 1), (b.variants.get(), 1))).orders.get()
    order_services.order_ship(order_id=order.pk, merchant=order.shop.owner, carrier="SF", tracking_number="SF12345")
    return order, list(order.lines.order_by("pk"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("same_line", [True, False])
def test_two_requests_at_once_never_ask_for_more_than_was_paid(same_line):
    # given an order of 100.00 and two requests sent at the same moment: 30.00 each on one
    # line (they would fit, but a line has one open request), or 60.00 each on two lines
    order, lines = _two_line_order(Client())
    targets, amount = ([lines[0], lines[0]], 3_000) if same_line else (lines, 6_000)

    def work(i):
        return services.after_sales_open(
            buyer=order.buyer,
            line_id=targets[i].pk,
            kind="partial_refund",
            reason="damaged",
            amount_minor=amount,
            description="Both items arrived damaged.",
        )

    results = race(2, work)
    # then one is open and the other refused, for the line or for the amount
    opened = [r for r in results if isinstance(r, AfterSalesRequest)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert (len(opened), len(refused)) == (1, 1), results
    expected = (
        "There is already an open request for this item."
        if same_line
        else "You can ask for at most ¥40.00: what you paid for this order less what is refunded or already asked for."
    )
    assert str(refused[0]) == expected
    assert AfterSalesRequest.objects.filter(order=order).count() == 1
    assert CaseEvent.objects.filter(kind="opened").count() == 1
    order.refresh_from_db()
    assert order.is_held
    books_ok()
