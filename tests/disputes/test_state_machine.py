"""Model-based test of after-sales requests, disputes and chargebacks mixed with the life of
orders: random orders (prices, quantities, commission rates, platform fee), then any sequence
of ship, confirm, auto-confirm, cancel, open a request, the shop's and the buyer's answers,
returns, staff rulings, missed deadlines, the 60-day fallback, chargebacks won or lost,
settlement and payouts, all through the service layer and the beat tasks.

After every step: the ledger balances and reconciles; an order with an open case is held,
never settled, auto-confirmed or paying its commission; each order holds paid − refunded −
released; commissions are the model's pro-rata figure for what each order kept; refunds
never exceed what was paid; every balance equals an independent model's."""

import itertools
import uuid
from dataclasses import dataclass
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from disputes import services
from disputes.models import AfterSalesRequest, Dispute
from disputes.tasks import after_sales_deadlines_task, disputes_fallback_task
from marketplace.errors import ConflictError, DomainError
from orders import services as order_services
from orders.models import Order
from orders.tasks import orders_auto_confirm_task
from payments import ledger
from payments import selectors as payment_selectors
from payments import services as payment_services
from payments.ledger import Kind
from payments.models import LedgerEntry, Refund
from referrals import services as referral_services
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import ADDRESS, settle_due

pytestmark = pytest.mark.django_db

_serial = itertools.count()
ACTIONS = ("accept", "propose", "reject", "offer_accept", "escalate", "withdraw", "return_ship", "return_receive")
# The model's own table of which request statuses each action may start from.
ALLOWED = {
    "accept": {"open"},
    "propose": {"open"},
    "reject": {"open"},
    "offer_accept": {"proposed"},
    "escalate": {"proposed", "rejected", "return_shipped"},
    "withdraw": {"open", "proposed", "rejected", "return_pending"},
    "return_ship": {"return_pending"},
    "return_receive": {"return_shipped"},
}
PICKS = st.lists(
    st.tuples(st.integers(1, 500_000), st.integers(1, 3), st.integers(100, 3000)), min_size=1, max_size=3
)  # (price, quantity, commission bps) of each product bought
FEES = st.sampled_from([0, 1, 250, 500, 999, 2000])
CONTESTED = ("propose", "reject", "escalate")
OPEN = {"open", "proposed", "rejected", "return_pending", "return_shipped", "escalated"}


def floor_bps(amount: int, bps: int) -> int:
    return amount * bps // 10_000


@dataclass(eq=False)
class ExpectedOrder:
    pk: int
    total: int
    fee_bps: int
    lines: list[tuple[int, int]]  # (commission base, bps) of each shared line
    line_ids: list[int]
    payment_intent: str
    refunded: int = 0
    status: str = "paid"
    # The after-sales window was moved into the past while the order was held.
    window_past: bool = False

    @property
    def refundable(self) -> int:
        return self.total - self.refunded

    def parts(self, refunded: int | None = None) -> tuple[int, int, int]:
        """(merchant, platform, commission) of what the buyer kept."""
        kept = self.total - (self.refunded if refunded is None else refunded)
        if kept <= 0:
            return 0, 0, 0
        commission = sum(floor_bps(base * kept // self.total, bps) for base, bps in self.lines)
        platform = floor_bps(kept, self.fee_bps)
        return kept - platform - commission, platform, commission


@dataclass(eq=False)
class ExpectedRequest:
    pk: int
    order: ExpectedOrder
    line_id: int
    kind: str
    amount: int
    status: str = "open"
    proposed: int | None = None
    refunded: int = 0


@dataclass(eq=False)
class ExpectedDispute:
    pk: int
    order: ExpectedOrder
    source: str
    request: ExpectedRequest | None = None
    stripe_id: str = ""
    chargeback: int = 0
    after_release: bool = False
    status: str = "open"
    outcome: str = ""
    outcome_minor: int = 0


@dataclass
class Books:
    merchant_available: int = 0
    promoter_available: int = 0
    platform: int = 0
    merchant_paid: int = 0
    promoter_paid: int = 0


def _snapshot() -> tuple:
    """Everything a refused step must leave as it was."""
    return (
        LedgerEntry.objects.count(),
        Refund.objects.count(),
        Order.objects.aggregate(s=Sum("refunded_minor"))["s"],
        list(AfterSalesRequest.objects.order_by("pk").values_list("pk", "status", "refunded_minor")),
        list(Dispute.objects.order_by("pk").values_list("pk", "status")),
        list(Order.objects.order_by("pk").values_list("pk", "status", "is_held")),
    )


class DisputeMoneyMachine(RuleBasedStateMachine):
    @initialize(picks=PICKS, fee_bps=FEES, shared=st.booleans())
    def open_shop_and_ship_a_first_sale(self, picks, fee_bps, shared):
        # Each example starts from the same database: its rows are rolled back in teardown.
        self.savepoint = transaction.savepoint()
        self.shop = make_shop()
        self.merchant = self.shop.owner
        self.promoter = UserFactory()
        self.buyer = UserFactory()
        self.admin = UserFactory(is_staff=True)
        self.shop.shipping_fee_minor = 800
        self.shop.save(update_fields=["shipping_fee_minor"])
        payment_services.payout_account_connect(shop=self.shop)
        payment_services.payout_account_connect(user=self.promoter)
        self.orders: list[ExpectedOrder] = []
        self.requests: list[ExpectedRequest] = []
        self.disputes: list[ExpectedDispute] = []
        self.books = Books()
        # A head start: one order paid and shipped, so cases open early in a run.
        self.buy(picks, fee_bps, shared)
        self.ship_order(self.orders[-1])

    def teardown(self):
        if hasattr(self, "savepoint"):
            transaction.savepoint_rollback(self.savepoint)

    # --- the model ------------------------------------------------------------------------

    def held(self, o: ExpectedOrder) -> bool:
        return any(r.order is o and r.status in OPEN for r in self.requests) or any(
            d.order is o and d.source == "chargeback" and d.status == "open" and not d.after_release
            for d in self.disputes
        )

    def _orders(self, *statuses, held=None):
        return [o for o in self.orders if o.status in statuses and (held is None or self.held(o) == held)]

    def _requests(self, *statuses):
        return [r for r in self.requests if r.status in statuses]

    def _escalations(self):
        return [d for d in self.disputes if d.source == "escalation" and d.status == "open"]

    def _chargebacks(self):
        return [d for d in self.disputes if d.source == "chargeback" and d.status == "open"]

    def _refund(self, o: ExpectedOrder, amount: int) -> int:
        """What the services refund: never more than is still refundable. After settlement
        each party gives back what the refund changes of its part."""
        amount = min(amount, o.refundable)
        if amount <= 0:
            return 0
        if o.status == "settled":
            before, after = o.parts(), o.parts(o.refunded + amount)
            self.books.merchant_available += after[0] - before[0]
            self.books.platform += after[1] - before[1]
            self.books.promoter_available += after[2] - before[2]
        o.refunded += amount
        return amount

    def _case_changed(self, o: ExpectedOrder, was_held: bool) -> None:
        # Releasing a hold restarts a timer that ran out while the order was held.
        if was_held and not self.held(o):
            o.window_past = False

    def _close_request(self, r: ExpectedRequest, status: str, refund: int = 0) -> None:
        was_held = self.held(r.order)
        r.refunded += self._refund(r.order, refund) if status == "refunded" else 0
        r.status = status
        self._case_changed(r.order, was_held)

    def _rule(self, d: ExpectedDispute, outcome: str, amount: int) -> None:
        d.status, d.outcome = "ruled", outcome
        if outcome == "release":
            self._close_request(d.request, "closed")
        else:
            d.outcome_minor = min(amount, d.order.refundable)
            self._close_request(d.request, "refunded", d.outcome_minor)

    # --- orders ---------------------------------------------------------------------------

    @precondition(lambda self: len(self._orders("paid", "shipped", "received")) < 2)
    @rule(picks=PICKS, fee_bps=FEES, shared=st.booleans())
    def buy(self, picks, fee_bps, shared):
        products = [make_product(shop=self.shop, price_minor=p, commission_bps=r, stock=10) for p, _, r in picks]
        # One promoter shares every product of a run: lift the hourly limit on new links.
        with mock.patch.object(referral_services, "SHARES_PER_HOUR", 10**6):
            shares = {p.pk: referral_services.share_create(promoter=self.promoter, product=p) for p in products}
        shares = shares if shared else {}
        lines = [
            order_services.CheckoutLine(p.variants.get().pk, q, p.price_minor)
            for p, (_, q, _) in zip(products, picks, strict=True)
        ]
        with override_settings(MARKETPLACE_PLATFORM_FEE_BPS=fee_bps):
            group = order_services.checkout_place(
                buyer=self.buyer,
                lines=lines,
                address=ADDRESS,
                idempotency_key=uuid.uuid4().hex,
                shares_by_product=shares,
            )
        n = next(_serial)
        payment_services.order_group_mark_paid(
            group_id=group.pk,
            amount_minor=group.total_minor,
            payment_intent_id=f"pi_dm_{n}",
            card_fingerprint=f"fp_dm_{n}",
        )
        order = group.orders.get()
        total = sum(p * q for p, q, _ in picks) + self.shop.shipping_fee_minor
        assert order.total_minor == total
        self.orders.append(
            ExpectedOrder(
                pk=order.pk,
                total=total,
                fee_bps=fee_bps,
                lines=[(p * q, r) for p, q, r in picks] if shared else [],
                line_ids=list(order.lines.order_by("pk").values_list("pk", flat=True)),
                payment_intent=f"pi_dm_{n}",
            )
        )

    def ship(self, data):
        # A chargeback can hold an unshipped order; shipping it is still allowed.
        self.ship_order(data.draw(st.sampled_from(self._orders("paid"))))

    def ship_order(self, o: ExpectedOrder) -> None:
        order_services.order_ship(order_id=o.pk, merchant=self.merchant, carrier="SF", tracking_number="SF12345")
        o.status = "shipped"

    def buyer_confirms(self, data):
        # The buyer may confirm receipt while a case is open; nothing settles until it closes.
        o = data.draw(st.sampled_from(self._orders("shipped")))
        order_services.order_confirm_receipt(order_id=o.pk, buyer=self.buyer)
        o.status, o.window_past = "received", False

    def auto_confirm_timer(self, data):
        """Every shipped order's timer runs out; only those without an open case confirm."""
        shipped = self._orders("shipped")
        Order.objects.filter(pk__in=[o.pk for o in shipped]).update(
            auto_confirm_at=timezone.now() - timedelta(seconds=1)
        )
        due = [o for o in shipped if not self.held(o)]
        assert orders_auto_confirm_task.apply().get() == len(due)
        for o in due:
            o.status, o.window_past = "received", False

    def cancel(self, data):
        o = data.draw(st.sampled_from(self._orders("paid", held=False)))
        payment_services.order_cancel(order_id=o.pk, actor=self.buyer, reason="Changed my mind")
        self._refund(o, o.refundable)
        o.status = "cancelled"

    def settlement_sweep(self, data):
        """Every received order's after-sales window ends; only those without an open case settle."""
        received = self._orders("received")
        Order.objects.filter(pk__in=[o.pk for o in received]).update(
            after_sales_ends_at=timezone.now() - timedelta(seconds=1)
        )
        due = [o for o in received if not self.held(o)]
        assert settle_due() == len(due)
        for o in received:
            if o in due:
                merchant, platform, commission = o.parts()
                self.books.merchant_available += merchant
                self.books.platform += platform
                self.books.promoter_available += commission
                o.status = "settled"
            else:
                o.window_past = True

    @precondition(lambda self: self.books.merchant_available > 0 or self.books.promoter_available > 0)
    @rule(minimum=st.sampled_from([1, 500, 10_000]))
    def payout_run(self, minimum):
        ids = payment_services.payouts_run(minimum_minor=minimum, shop_ids=[self.shop.pk], user_ids=[self.promoter.pk])
        payment_services.payouts_submit(payout_ids=ids)
        expected = 0
        if self.books.merchant_available >= minimum:
            self.books.merchant_paid += self.books.merchant_available
            self.books.merchant_available = 0
            expected += 1
        if self.books.promoter_available >= minimum:
            self.books.promoter_paid += self.books.promoter_available
            self.books.promoter_available = 0
            expected += 1
        assert len(ids) == expected

    def beat_runs_with_nothing_due(self):
        """The sweepers run before any timer has run out: nothing at all changes."""
        before = _snapshot()
        assert after_sales_deadlines_task.apply().get() == 0
        assert disputes_fallback_task.apply().get() == 0
        assert orders_auto_confirm_task.apply().get() == 0
        assert settle_due() == 0
        assert _snapshot() == before

    # --- requests -------------------------------------------------------------------------

    def _free_lines(self, o: ExpectedOrder) -> list[int]:
        return [pk for pk in o.line_ids if not any(r.line_id == pk and r.status in OPEN for r in self.requests)]

    @precondition(lambda self: [o for o in self._orders("shipped", "received") if self._free_lines(o)])
    @rule(
        data=st.data(),
        kind=st.sampled_from(["refund_only", "return_refund", "partial_refund"]),
        share=st.fractions(min_value=0, max_value=1),
        over=st.integers(0, 4).map(lambda n: n == 0),
    )
    def open_request(self, data, kind, share, over):
        o = data.draw(st.sampled_from([o for o in self._orders("shipped", "received") if self._free_lines(o)]))
        # Mostly a line with no open request yet (a second one on a line is refused).
        line_id = data.draw(st.sampled_from(o.line_ids if over else self._free_lines(o)))
        others = sum(r.amount for r in self.requests if r.order is o and r.status in OPEN)
        limit = o.refundable - others
        # Mostly within what may be asked; sometimes a cent or more over it.
        amount = max(1, int(limit * share)) if not over else max(limit, 0) + 1 + int(o.total * share)
        reason = {"refund_only": "not_received", "return_refund": "not_as_described"}.get(kind, "damaged")

        def call():
            return services.after_sales_open(
                buyer=self.buyer,
                line_id=line_id,
                kind=kind,
                reason=reason,
                amount_minor=amount,
                description="Something is wrong with this parcel.",
            )

        if o.status == "received" and o.window_past:
            self._refused(call, ConflictError, "after-sales window of this order has closed")
        elif amount > limit:
            self._refused(call, DomainError, "You can ask for at most")
        elif any(r.line_id == line_id and r.status in OPEN for r in self.requests):
            self._refused(call, ConflictError, "already an open request for this item")
        else:
            request = call()
            self.requests.append(ExpectedRequest(pk=request.pk, order=o, line_id=line_id, kind=kind, amount=amount))

    def _refused(self, call, error, text):
        before = _snapshot()
        with pytest.raises(error) as caught:
            call()
        assert type(caught.value) is error, caught.value
        assert text in caught.value.message
        assert _snapshot() == before

    def _call(self, r: ExpectedRequest, action: str, *, amount: int = 1, by_buyer: bool = True):
        """One party's action on a request, through its service."""
        note = "Circle Market, please look at this."
        if action == "accept":
            return services.after_sales_accept(
                request_id=r.pk, merchant=self.merchant, return_address="9 Return Lane, Hangzhou"
            )
        if action == "propose":
            return services.after_sales_propose(
                request_id=r.pk, merchant=self.merchant, amount_minor=amount, note="Part of it back?"
            )
        if action == "reject":
            return services.after_sales_reject(request_id=r.pk, merchant=self.merchant, note="It left us intact.")
        if action == "offer_accept":
            return services.after_sales_offer_accept(request_id=r.pk, buyer=self.buyer)
        if action == "escalate":
            user = self.buyer if by_buyer else self.merchant
            return services.after_sales_escalate(request_id=r.pk, user=user, note=note)
        if action == "withdraw":
            return services.after_sales_withdraw(request_id=r.pk, buyer=self.buyer)
        if action == "return_ship":
            return services.after_sales_return_ship(
                request_id=r.pk, buyer=self.buyer, carrier="YTO", tracking_number="YT9988"
            )
        return services.after_sales_return_receive(request_id=r.pk, merchant=self.merchant)

    @precondition(lambda self: self._requests(*OPEN - {"escalated"}))
    @rule(data=st.data(), share=st.fractions(min_value=0, max_value=1), by_buyer=st.booleans())
    def a_party_answers(self, data, share, by_buyer):
        """The shop or the buyer takes one of the steps the model allows from the request's status."""
        r = data.draw(st.sampled_from(self._requests(*OPEN - {"escalated"})))
        # The contested moves come twice as often, so runs reach escalations and rulings.
        allowed = [a for a in ACTIONS if r.status in ALLOWED[a] and not (a == "propose" and r.amount < 2)]
        action = data.draw(st.sampled_from(allowed + [a for a in allowed if a in CONTESTED]), label="action")
        amount = max(1, min(r.amount - 1, int(r.amount * share)))
        result = self._call(r, action, amount=amount, by_buyer=by_buyer)
        if action == "accept" and r.kind == "return_refund":
            r.status = "return_pending"
        elif action in ("accept", "return_receive"):
            self._close_request(r, "refunded", r.amount)
        elif action == "propose":
            r.status, r.proposed = "proposed", amount
        elif action == "reject":
            r.status = "rejected"
        elif action == "offer_accept":
            self._close_request(r, "refunded", r.proposed)
        elif action == "escalate":
            r.status = "escalated"
            self.disputes.append(ExpectedDispute(pk=result.pk, order=r.order, source="escalation", request=r))
        elif action == "withdraw":
            self._close_request(r, "withdrawn")
        else:
            r.status = "return_shipped"

    @precondition(lambda self: self._requests(*OPEN))
    @rule(data=st.data())
    def action_out_of_turn(self, data):
        """Any action from a status the model's table does not allow is refused and changes nothing."""
        r = data.draw(st.sampled_from(self.requests))
        # (An offer of 1 on a request for 1 is refused for its amount, before its status.)
        refused = [a for a in ACTIONS if r.status not in ALLOWED[a] and not (a == "propose" and r.amount < 2)]
        action = data.draw(st.sampled_from(refused), label="action")
        before = _snapshot()
        with pytest.raises(ConflictError):
            self._call(r, action)
        assert _snapshot() == before

    # --- staff, timers, chargebacks ---------------------------------------------------------

    @precondition(lambda self: self._escalations())
    @rule(
        data=st.data(),
        outcome=st.sampled_from(["full_refund", "partial_refund", "release"]),
        share=st.fractions(min_value=0, max_value=1),
    )
    def staff_rules(self, data, outcome, share):
        d = data.draw(st.sampled_from(self._escalations()))
        asked = d.request.amount
        amount = max(1, int(asked * share)) if outcome == "partial_refund" else None

        def call():
            return services.dispute_rule(
                dispute_id=d.pk,
                admin=self.admin,
                outcome=outcome,
                amount_minor=amount,
                reason="Looked at the photos and the tracking.",
            )

        if outcome == "partial_refund" and amount >= asked:
            self._refused(call, DomainError, "A partial refund must be less than")
        elif outcome != "release" and (amount or asked) > d.order.refundable:
            # A lost chargeback took part of the money meanwhile.
            self._refused(call, DomainError, "of this order can still be refunded")
        else:
            call()
            self._rule(d, outcome, amount or asked)

    def deadlines_pass(self, data):
        """Some running deadlines pass; the sweeper applies each default outcome once."""
        waiting = [r for r in self.requests if r.status in OPEN - {"escalated"}]
        due = [waiting[i] for i in sorted(data.draw(st.sets(st.sampled_from(range(len(waiting))), min_size=1)))]
        AfterSalesRequest.objects.filter(pk__in=[r.pk for r in due]).update(
            deadline_at=timezone.now() - timedelta(seconds=1)
        )
        assert after_sales_deadlines_task.apply().get() == len(due)
        assert after_sales_deadlines_task.apply().get() == 0
        for r in due:
            if r.status == "open":
                self._close_request(r, "refunded", r.amount)
            elif r.status == "proposed":
                self._close_request(r, "refunded", r.proposed)
            elif r.status == "return_shipped":
                self._close_request(r, "refunded", r.amount)
            else:
                self._close_request(r, "closed")

    def nobody_rules_in_sixty_days(self, data):
        default = data.draw(st.sampled_from(["full_refund", "release"]), label="default outcome")
        open_ = self._escalations()
        due = [open_[i] for i in sorted(data.draw(st.sets(st.sampled_from(range(len(open_))), min_size=1)))]
        Dispute.objects.filter(pk__in=[d.pk for d in due]).update(decide_by=timezone.now() - timedelta(seconds=1))
        with override_settings(MARKETPLACE_DISPUTE_DEFAULT_OUTCOME=default):
            assert disputes_fallback_task.apply().get() == len(due)
            assert disputes_fallback_task.apply().get() == 0
        for d in due:
            self._rule(d, default, d.request.amount)

    def chargeback_opens(self, data):
        share = data.draw(st.fractions(min_value=0, max_value=1), label="share of the order")
        o = data.draw(st.sampled_from(self._orders("paid", "shipped", "received", "settled")))
        amount = max(1, int(o.total * share))
        stripe_id = f"dp_dm_{next(_serial)}"
        was_held = self.held(o)
        opened = services.chargeback_open(
            stripe_dispute_id=stripe_id, payment_intent_id=o.payment_intent, amount_minor=amount, reason="fraudulent"
        )
        # Delivered again: nothing more happens.
        again = services.chargeback_open(
            stripe_dispute_id=stripe_id, payment_intent_id=o.payment_intent, amount_minor=amount, reason="fraudulent"
        )
        if o.refundable == 0:
            assert opened == [] and again == []
            return
        assert [d.pk for d in again] == [d.pk for d in opened] and len(opened) == 1
        self.disputes.append(
            ExpectedDispute(
                pk=opened[0].pk,
                order=o,
                source="chargeback",
                stripe_id=stripe_id,
                chargeback=min(amount, o.refundable),
                after_release=o.status == "settled",
            )
        )
        self._case_changed(o, was_held)

    def chargeback_closes(self, data):
        won = data.draw(st.booleans(), label="won")
        d = data.draw(st.sampled_from(self._chargebacks()))
        assert services.chargeback_close(stripe_dispute_id=d.stripe_id, won=won) == 1
        assert services.chargeback_close(stripe_dispute_id=d.stripe_id, won=won) == 0
        was_held = self.held(d.order)
        d.status = "closed"
        if won:
            d.outcome = "chargeback_won"
        else:
            d.outcome = "chargeback_lost"
            d.outcome_minor = self._refund(d.order, d.chargeback)
        self._case_changed(d.order, was_held)

    # --- grouped steps: each draws one of the moves its situation allows ------------------

    @precondition(lambda self: self._orders("paid", "shipped"))
    @rule(data=st.data())
    def an_order_moves(self, data):
        moves = [self.ship] if self._orders("paid") else []
        moves += [self.buyer_confirms] if self._orders("shipped") else []
        moves += [self.cancel] if self._orders("paid", held=False) else []
        data.draw(st.sampled_from(moves), label="move")(data)

    def _timers(self) -> list:
        moves = [self.auto_confirm_timer] if self._orders("shipped") else []
        moves += [self.deadlines_pass] if self._requests(*OPEN - {"escalated"}) else []
        moves += [self.nobody_rules_in_sixty_days] if self._escalations() else []
        moves += [self.settlement_sweep] if self._orders("received") else []
        return moves

    @precondition(lambda self: self._timers())
    @rule(data=st.data())
    def time_passes(self, data):
        move = data.draw(st.sampled_from(self._timers()), label="timer")
        self.beat_runs_with_nothing_due()
        move(data)

    @precondition(lambda self: self._chargebacks() or self._chargeback_candidates())
    @rule(data=st.data())
    def card_issuer(self, data):
        moves = [self.chargeback_opens] if self._chargeback_candidates() else []
        moves += [self.chargeback_closes] if self._chargebacks() else []
        data.draw(st.sampled_from(moves), label="chargeback")(data)

    def _chargeback_candidates(self):
        if sum(d.source == "chargeback" for d in self.disputes) >= 2:
            return []
        return self._orders("paid", "shipped", "received", "settled")

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def books_balance(self):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM (SELECT 1 FROM payments_ledgerentry GROUP BY transaction_id "
                "HAVING sum(amount_minor) <> 0) unbalanced"
            )
            assert cursor.fetchone()[0] == 0, "an unbalanced ledger transaction"
        report = payment_services.reconcile()
        assert report.ok, report.problems

    @invariant()
    def no_open_case_lets_money_go(self):
        """Straight from the database, whatever the model says: an order with an open request,
        an open escalation or a chargeback opened before release is held and not settled."""
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT o.id, o.status, o.is_held FROM orders_order o
                 WHERE (o.status = 'settled' OR NOT o.is_held) AND (
                       EXISTS (SELECT 1 FROM disputes_aftersalesrequest r
                                WHERE r.order_id = o.id AND r.status = ANY(%s))
                    OR EXISTS (SELECT 1 FROM disputes_dispute d
                                WHERE d.order_id = o.id AND d.status = 'open' AND NOT d.chargeback_after_release))
                """,
                [list(OPEN)],
            )
            assert cursor.fetchall() == []
            cursor.execute("SELECT id FROM orders_order WHERE refunded_minor > total_minor OR refunded_minor < 0")
            assert cursor.fetchall() == []

    @invariant()
    def orders_match_the_model(self):
        if not getattr(self, "orders", None):
            return
        rows = {
            pk: (status, held, refunded)
            for pk, status, held, refunded in Order.objects.filter(pk__in=[o.pk for o in self.orders]).values_list(
                "pk", "status", "is_held", "refunded_minor"
            )
        }
        refunds = dict(Refund.objects.filter(order_id__in=rows).values_list("order_id").annotate(s=Sum("amount_minor")))
        escrow = dict(
            LedgerEntry.objects.filter(account__kind=Kind.ESCROW, account__order_id__in=rows)
            .values_list("account__order_id")
            .annotate(s=Sum("amount_minor"))
        )
        posted = payment_selectors.commissions_posted(list(rows))
        for o in self.orders:
            held = self.held(o)
            assert rows[o.pk] == (o.status, held, o.refunded), (o.pk, rows[o.pk], o.status, held, o.refunded)
            assert refunds.get(o.pk, 0) == o.refunded <= o.total
            if o.status == "settled":
                assert escrow.get(o.pk, 0) == 0
                continue
            commission = o.parts()[2]
            assert escrow.get(o.pk, 0) == o.total - o.refunded - commission
            kind = "promoter_frozen" if held else "promoter_pending"
            assert posted.get(o.pk, {}) == ({(kind, self.promoter.pk): commission} if commission else {})

    @invariant()
    def cases_match_the_model(self):
        if not getattr(self, "requests", None):
            return
        requests = {
            pk: (status, refunded)
            for pk, status, refunded in AfterSalesRequest.objects.values_list("pk", "status", "refunded_minor")
        }
        assert requests == {r.pk: (r.status, r.refunded) for r in self.requests}
        disputes = {pk: rest for pk, *rest in Dispute.objects.values_list("pk", "status", "outcome", "outcome_minor")}
        assert disputes == {d.pk: [d.status, d.outcome, d.outcome_minor] for d in self.disputes}

    @invariant()
    def balances_match_the_model(self):
        if not hasattr(self, "shop"):
            return
        merchant = payment_selectors.merchant_balances(shop=self.shop)
        promoter = payment_selectors.promoter_balances(user=self.promoter)
        assert (merchant["available"], merchant["paid_out"]) == (
            self.books.merchant_available,
            self.books.merchant_paid,
        )
        assert (promoter["available"], promoter["paid_out"]) == (
            self.books.promoter_available,
            self.books.promoter_paid,
        )
        assert ledger.balance_of(kind=Kind.PLATFORM_FEES) == self.books.platform


STATEFUL = settings(
    max_examples=60,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_disputes_and_orders_keep_the_money_exact_through_any_sequence_of_steps():
    run_state_machine_as_test(DisputeMoneyMachine, settings=STATEFUL)


def _release_ignoring_chargebacks(order, note):
    """The planted bug: the hold comes off once no request is open, forgetting that a
    chargeback on the same order is still open."""
    order.refresh_from_db(fields=["is_held", "held_reason"])
    if not order.is_held or not order.held_reason.startswith(services.HOLD_PREFIX):
        return
    if AfterSalesRequest.objects.filter(order=order, status__in=AfterSalesRequest.OPEN_STATUSES).exists():
        return
    payment_services.order_release_hold(order_id=order.pk, note=note)


def test_a_hold_lifted_while_a_chargeback_is_still_open_is_caught(monkeypatch):
    """The control for the test above: it must fail when a case that closes lifts the hold
    that an open chargeback on the same order still needs."""
    monkeypatch.setattr(services, "_release_if_clear", _release_ignoring_chargebacks)
    # Derandomized: the control fails the same way on every run. The first failure is
    # enough: no shrinking, one error reported.
    quick = settings(
        STATEFUL,
        max_examples=200,
        derandomize=True,
        phases=[Phase.generate],
        report_multiple_bugs=False,
        print_blob=False,
    )
    with pytest.raises(AssertionError):
        run_state_machine_as_test(DisputeMoneyMachine, settings=quick)
