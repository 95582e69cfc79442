"""After-sales requests, disputes, chargebacks and sanctions: one function per state change.

Locks go order first, then request or dispute, so two changes on one order never deadlock.
While any request or dispute of an order is open, the order is held (payments.services.order_hold):
its escrow and commissions are frozen and its timers wait. Each outcome moves money through
payments.services.refund_create (before settlement out of escrow, voiding commissions pro
rata; after settlement as a debt of the merchant and promoters); what is left is released
by the normal settlement once the hold is gone.

Longer than 400 lines: requests, disputes and chargebacks are one state machine over the
order's hold and lock order; sanctions could move to their own module.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from disputes.models import AfterSalesRequest, CaseEvent, Dispute, Evidence, Message, Sanction
from marketplace.errors import ConflictError, DomainError
from marketplace.money import money_format
from orders.models import Order, OrderGroup, OrderLine
from payments import services as payment_services
from shops import services as shop_services
from shops.images import ImageRejected, image_intake
from shops.models import Shop

Status = AfterSalesRequest.Status
# Every hold this module places starts with this, so it never lifts a hold placed for another reason.
HOLD_PREFIX = "Buyer protection case"
MAX_PHOTOS = 6


# --- Helpers ----------------------------------------------------------------------------


def _event(*, request=None, dispute=None, kind: str, actor=None, note: str = "") -> None:
    CaseEvent.objects.create(request=request, dispute=dispute, kind=kind, actor=actor, note=note[:600])


def _text(value: str, *, field: str, label: str, minimum: int = 1, maximum: int = 2000) -> str:
    value = (value or "").strip()
    if len(value) < minimum:
        raise DomainError(
            f"{label} is required." if minimum == 1 else f"{label} needs at least {minimum} characters.", field=field
        )
    if len(value) > maximum:
        raise DomainError(f"{label} is too long: at most {maximum} characters.", field=field)
    return value


def _amount(value, *, field: str = "amount_minor") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DomainError("Enter the amount as a number.", field=field)
    if value <= 0:
        raise DomainError("The amount must be more than zero.", field=field)
    return value


def photos_encode(photos) -> list:
    """Re-encode uploads before any lock is taken (it is the slow part). Raises DomainError."""
    photos = list(photos or [])
    if len(photos) > MAX_PHOTOS:
        raise DomainError(f"Attach at most {MAX_PHOTOS} photos.", field="photos")
    encoded = []
    for upload in photos:
        try:
            encoded.append(image_intake(upload, max_side=1600))
        except ImageRejected as exc:
            raise DomainError(f"{getattr(upload, 'name', 'A photo')}: {exc}", field="photos") from None
    return encoded


def _evidence_save(*, request: AfterSalesRequest, user, encoded, message: Message | None = None) -> None:
    from django.core.files.base import ContentFile

    for photo in encoded:
        evidence = Evidence(request=request, message=message, uploaded_by=user, width=photo.width, height=photo.height)
        evidence.image.save("evidence.jpg", ContentFile(photo.content), save=False)
        evidence.save()


def _lock(request_id: int) -> tuple[Order, AfterSalesRequest]:
    order_id = AfterSalesRequest.objects.filter(pk=request_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise AfterSalesRequest.DoesNotExist
    order = Order.objects.select_for_update().get(pk=order_id)
    request = AfterSalesRequest.objects.select_for_update().select_related("shop", "line").get(pk=request_id)
    return order, request


def _role(request: AfterSalesRequest, user) -> str:
    """'buyer', 'merchant' or 'staff'; anyone else is told the request does not exist."""
    if user is not None and request.buyer_id == user.pk:
        return "buyer"
    if user is not None and request.shop.owner_id == user.pk:
        return "merchant"
    if user is not None and user.is_staff:
        return "staff"
    raise AfterSalesRequest.DoesNotExist


def _require_role(request: AfterSalesRequest, user, role: str) -> None:
    if _role(request, user) != role:
        who = "the buyer" if role == "buyer" else "the shop"
        raise PermissionDenied(f"Only {who} can do this.")


# How each status reads inside a sentence ("This request is …; it cannot be …").
STATUS_IN_WORDS = {
    Status.OPEN: "waiting for the shop",
    Status.PROPOSED: "waiting for the buyer to answer an offer",
    Status.REJECTED: "rejected by the shop",
    Status.RETURN_PENDING: "waiting for the item to be sent back",
    Status.RETURN_SHIPPED: "waiting for the shop to receive the return",
    Status.ESCALATED: "with Circle Market for a ruling",
    Status.REFUNDED: "refunded",
    Status.CLOSED: "closed",
    Status.WITHDRAWN: "withdrawn",
}


def _refuse(request: AfterSalesRequest, action: str) -> ConflictError:
    return ConflictError(f"This request is {STATUS_IN_WORDS[request.status]}; it cannot be {action}.")


def _move(request: AfterSalesRequest, status: str, *, deadline=None, action: str) -> None:
    if status not in AfterSalesRequest.TRANSITIONS.get(request.status, set()):
        raise _refuse(request, action)
    request.status = status
    request.deadline_at = deadline
    if status not in AfterSalesRequest.OPEN_STATUSES:
        request.closed_at = timezone.now()
    request.save(
        update_fields=[
            "status", "deadline_at", "closed_at", "proposed_minor", "return_address", "return_carrier",
            "return_tracking_number", "refunded_minor", "outcome_note",
        ]
    )  # fmt: skip


def _refundable(order: Order) -> int:
    return order.total_minor - order.refunded_minor


def _hold(order: Order, note: str) -> None:
    if not order.is_held:
        payment_services.order_hold(
            order_id=order.pk, held_by=Order.HeldBy.BUYER_PROTECTION, reason=f"{HOLD_PREFIX}: {note}"
        )
        order.is_held = True


def _release_if_clear(order: Order, note: str) -> None:
    """Lift this module's hold once no request or dispute of the order is open."""
    order.refresh_from_db(fields=["is_held", "held_by"])
    if not order.is_held or order.held_by != Order.HeldBy.BUYER_PROTECTION:
        return
    if AfterSalesRequest.objects.filter(order=order, status__in=AfterSalesRequest.OPEN_STATUSES).exists():
        return
    if Dispute.objects.filter(order=order, status=Dispute.Status.OPEN).exists():
        return
    payment_services.order_release_hold(order_id=order.pk, note=note)


def _refund(order: Order, request: AfterSalesRequest, amount: int, note: str) -> int:
    """Refund up to `amount` (never more than is still refundable) for this request."""
    amount = min(amount, _refundable(order))
    if amount > 0:
        payment_services.refund_create(order=order, amount_minor=amount, reason=f"Request {request.pk}: {note}"[:200])
    request.refunded_minor += amount
    return amount


def _close_refunded(order, request, amount, *, actor, kind: str, note: str) -> AfterSalesRequest:
    refunded = _refund(order, request, amount, note)
    request.outcome_note = note[:500]
    _move(request, Status.REFUNDED, action="refunded")
    _event(request=request, kind=kind, actor=actor, note=f"{note} Refunded {money_format(refunded)}.")
    _release_if_clear(order, f"Request {request.pk} closed with a refund.")
    return request


def _close_unrefunded(
    order, request, *, actor, kind: str, note: str, status=Status.CLOSED, action: str = "closed"
) -> AfterSalesRequest:
    request.outcome_note = note[:500]
    _move(request, status, action=action)
    _event(request=request, kind=kind, actor=actor, note=note)
    _release_if_clear(order, f"Request {request.pk} closed; the payment goes on to the shop.")
    return request


# --- Requests ---------------------------------------------------------------------------


def after_sales_open(
    *, buyer, line_id: int, kind: str, reason: str, description: str, amount_minor, photos=()
) -> AfterSalesRequest:
    """The buyer asks for a refund, a return or a partial refund on one order line."""
    if kind not in AfterSalesRequest.Kind.values:
        raise DomainError("Choose what you want: a refund, a return and refund, or a partial refund.", field="kind")
    if reason not in AfterSalesRequest.Reason.values:
        raise DomainError("Choose a reason.", field="reason")
    description = _text(description, field="description", label="The description", minimum=10)
    amount_minor = _amount(amount_minor)
    if reason == AfterSalesRequest.Reason.NO_REASON and kind != AfterSalesRequest.Kind.RETURN_REFUND:
        raise DomainError("A no-reason request is a return: send the item back for a refund.", field="kind")
    encoded = photos_encode(photos)
    line = OrderLine.objects.filter(pk=line_id, order__buyer=buyer).select_related("product").first()
    if line is None:
        raise OrderLine.DoesNotExist
    now = timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=line.order_id)
        if order.status == Order.Status.PAID:
            raise ConflictError("This order has not shipped yet: cancel it instead for a full refund at once.")
        if order.status == Order.Status.SETTLED:
            raise ConflictError("The after-sales window of this order has closed and the shop has been paid.")
        if order.status not in (Order.Status.SHIPPED, Order.Status.RECEIVED):
            raise ConflictError(f"This order is {order.get_status_display().lower()}; there is nothing to refund.")
        if order.status == Order.Status.RECEIVED and order.after_sales_ends_at and order.after_sales_ends_at < now:
            raise ConflictError("The after-sales window of this order has closed.")
        if reason == AfterSalesRequest.Reason.NO_REASON:
            if not line.product.is_no_reason_return:
                raise DomainError("This product does not offer no-reason returns; choose the actual reason.",
                                  field="reason")  # fmt: skip
            days = settings.MARKETPLACE_NO_REASON_RETURN_DAYS
            if order.received_at and order.received_at + timedelta(days=days) < now:
                raise ConflictError(f"No-reason returns end {days} days after receipt.")
        others = sum(
            AfterSalesRequest.objects.filter(order=order, status__in=AfterSalesRequest.OPEN_STATUSES).values_list(
                "amount_minor", flat=True
            )
        )
        limit = _refundable(order) - others
        if amount_minor > limit:
            raise DomainError(
                f"You can ask for at most {money_format(max(limit, 0))}: what you paid for this order "
                "less what is refunded or already asked for.",
                field="amount_minor",
            )
        try:
            with transaction.atomic():
                request = AfterSalesRequest.objects.create(
                    order=order, line=line, shop_id=order.shop_id, buyer=buyer, kind=kind, reason=reason,
                    description=description, amount_minor=amount_minor,
                    deadline_at=now + timedelta(hours=settings.MARKETPLACE_MERCHANT_RESPONSE_HOURS),
                )  # fmt: skip
        except IntegrityError:
            raise ConflictError("There is already an open request for this item.") from None
        _evidence_save(request=request, user=buyer, encoded=encoded)
        _event(
            request=request, kind="opened", actor=buyer,
            note=f"{request.get_kind_display()}: {request.get_reason_display()}, {money_format(amount_minor)}.",
        )  # fmt: skip
        _hold(order, f"request {request.pk} is open.")
    return request


def after_sales_accept(*, request_id: int, merchant, return_address: str = "") -> AfterSalesRequest:
    """The shop agrees: a refund now, or, for a return, the address to send the item to."""
    with transaction.atomic():
        order, request = _lock(request_id)
        _require_role(request, merchant, "merchant")
        if request.kind == AfterSalesRequest.Kind.RETURN_REFUND:
            request.return_address = _text(
                return_address, field="return_address", label="The return address", minimum=10, maximum=300
            )
            deadline = timezone.now() + timedelta(days=settings.MARKETPLACE_RETURN_SHIP_DAYS)
            _move(request, Status.RETURN_PENDING, deadline=deadline, action="accepted")
            _event(request=request, kind="return_accepted", actor=merchant,
                   note=f"Return accepted. Send the item to: {request.return_address}")  # fmt: skip
            return request
        if request.status != Status.OPEN:
            raise _refuse(request, "accepted")
        return _close_refunded(order, request, request.amount_minor, actor=merchant, kind="accepted",
                               note="The shop accepted the request.")  # fmt: skip


def after_sales_propose(*, request_id: int, merchant, amount_minor, note: str) -> AfterSalesRequest:
    """The shop offers a smaller refund; the buyer accepts it or escalates."""
    amount_minor = _amount(amount_minor)
    note = _text(note, field="note", label="A note to the buyer", maximum=600)
    with transaction.atomic():
        order, request = _lock(request_id)
        _require_role(request, merchant, "merchant")
        if amount_minor >= request.amount_minor:
            raise DomainError(
                f"An offer must be less than the {money_format(request.amount_minor)} asked for; "
                "to give that, accept the request.",
                field="amount_minor",
            )
        request.proposed_minor = amount_minor
        deadline = timezone.now() + timedelta(days=settings.MARKETPLACE_BUYER_ANSWER_DAYS)
        _move(request, Status.PROPOSED, deadline=deadline, action="answered with an offer")
        _event(request=request, kind="proposed", actor=merchant, note=f"Offered {money_format(amount_minor)}: {note}")
    return request


def after_sales_reject(*, request_id: int, merchant, note: str, photos=()) -> AfterSalesRequest:
    note = _text(note, field="note", label="The reason for rejecting", minimum=10, maximum=600)
    encoded = photos_encode(photos)
    with transaction.atomic():
        order, request = _lock(request_id)
        _require_role(request, merchant, "merchant")
        deadline = timezone.now() + timedelta(days=settings.MARKETPLACE_BUYER_ANSWER_DAYS)
        _move(request, Status.REJECTED, deadline=deadline, action="rejected")
        message = Message.objects.create(request=request, author=merchant, body=note)
        _evidence_save(request=request, user=merchant, encoded=encoded, message=message)
        _event(request=request, kind="rejected", actor=merchant, note=note)
    return request


def after_sales_offer_accept(*, request_id: int, buyer) -> AfterSalesRequest:
    with transaction.atomic():
        order, request = _lock(request_id)
        _require_role(request, buyer, "buyer")
        if request.status != Status.PROPOSED:
            raise ConflictError("There is no offer to accept on this request.")
        return _close_refunded(order, request, request.proposed_minor, actor=buyer, kind="offer_accepted",
                               note="The buyer accepted the shop's offer.")  # fmt: skip


def after_sales_return_ship(*, request_id: int, buyer, carrier: str, tracking_number: str) -> AfterSalesRequest:
    carrier = _text(carrier, field="carrier", label="The carrier", maximum=60)
    tracking_number = (tracking_number or "").strip()
    if not 4 <= len(tracking_number) <= 60 or not tracking_number.replace("-", "").isalnum():
        raise DomainError("Enter the tracking number: 4 to 60 letters and digits.", field="tracking_number")
    with transaction.atomic():
        order, request = _lock(request_id)
        _require_role(request, buyer, "buyer")
        request.return_carrier, request.return_tracking_number = carrier, tracking_number
        deadline = timezone.now() + timedelta(days=settings.MARKETPLACE_RETURN_RECEIVE_DAYS)
        _move(request, Status.RETURN_SHIPPED, deadline=deadline, action="marked as sent back")
        _event(request=request, kind="return_shipped", actor=buyer,
               note=f"Sent back with {carrier}, tracking number {tracking_number}.")  # fmt: skip
    return request


def after_sales_return_receive(*, request_id: int, merchant) -> AfterSalesRequest:
    """The shop has the item back: the buyer is refunded."""
    with transaction.atomic():
        order, request = _lock(request_id)
        _require_role(request, merchant, "merchant")
        if request.status != Status.RETURN_SHIPPED:
            raise ConflictError("No return is on its way for this request.")
        return _close_refunded(order, request, request.amount_minor, actor=merchant, kind="return_received",
                               note="The shop received the return.")  # fmt: skip


def after_sales_withdraw(*, request_id: int, buyer) -> AfterSalesRequest:
    with transaction.atomic():
        order, request = _lock(request_id)
        _require_role(request, buyer, "buyer")
        if request.status == Status.ESCALATED:
            raise ConflictError("This request is with Circle Market now; it will be ruled on.")
        return _close_unrefunded(order, request, actor=buyer, kind="withdrawn", note="The buyer withdrew the request.",
                                 status=Status.WITHDRAWN, action="withdrawn")  # fmt: skip


def after_sales_escalate(*, request_id: int, user, note: str) -> Dispute:
    """Either side asks Circle Market to decide a rejected request, a refused offer or a
    contested return."""
    note = _text(note, field="note", label="Why Circle Market should step in", minimum=10, maximum=600)
    with transaction.atomic():
        order, request = _lock(request_id)
        role = _role(request, user)
        if role == "staff":
            raise PermissionDenied("Only the buyer or the shop can escalate.")
        if request.status not in (Status.REJECTED, Status.PROPOSED, Status.RETURN_SHIPPED):
            raise _refuse(request, "escalated")
        _move(request, Status.ESCALATED, action="escalated")
        dispute = Dispute.objects.create(
            order=order, shop_id=request.shop_id, request=request, source=Dispute.Source.ESCALATION, opened_by=user,
            decide_by=timezone.now() + timedelta(days=settings.MARKETPLACE_DISPUTE_AUTOCLOSE_DAYS),
        )  # fmt: skip
        Message.objects.create(request=request, author=user, body=note)
        _event(request=request, dispute=dispute, kind="escalated", actor=user,
               note=f"Escalated by the {role}: {note}")  # fmt: skip
    return dispute


def after_sales_message_post(*, request_id: int, user, body: str, photos=()) -> Message:
    body = _text(body, field="body", label="The message", maximum=2000)
    encoded = photos_encode(photos)
    with transaction.atomic():
        order, request = _lock(request_id)
        _role(request, user)
        if not request.is_open:
            raise ConflictError("This request is closed; messages can no longer be added.")
        message = Message.objects.create(request=request, author=user, body=body)
        _evidence_save(request=request, user=user, encoded=encoded, message=message)
    return message


def after_sales_deadline_apply(*, request_id: int) -> bool:
    """The running deadline passed: apply its default outcome, once. Returns True if applied.

    Merchant silent → the buyer gets what was asked (as Amazon's A-to-z does). Buyer silent
    on an offer → the offer stands. Buyer silent after a rejection, or never sent the
    return → closed for the shop. Shop never confirmed the return's arrival → refund.
    """
    with transaction.atomic():
        order, request = _lock(request_id)
        if request.deadline_at is None or request.deadline_at > timezone.now() or not request.is_open:
            return False
        if request.status == Status.OPEN:
            _close_refunded(order, request, request.amount_minor, actor=None, kind="deadline_refund",
                            note="The shop did not answer in time.")  # fmt: skip
        elif request.status == Status.PROPOSED:
            _close_refunded(order, request, request.proposed_minor, actor=None, kind="deadline_offer",
                            note="The buyer did not answer the offer in time; the offer stands.")  # fmt: skip
        elif request.status == Status.REJECTED:
            _close_unrefunded(order, request, actor=None, kind="deadline_closed",
                              note="The request was not escalated in time.")  # fmt: skip
        elif request.status == Status.RETURN_PENDING:
            _close_unrefunded(order, request, actor=None, kind="deadline_closed",
                              note="The item was not sent back in time.")  # fmt: skip
        elif request.status == Status.RETURN_SHIPPED:
            _close_refunded(order, request, request.amount_minor, actor=None, kind="deadline_refund",
                            note="The shop did not confirm the return in time.")  # fmt: skip
        else:
            return False
    return True


# --- Disputes ---------------------------------------------------------------------------


def _dispute_lock(dispute_id: int) -> tuple[Order, Dispute]:
    order_id = Dispute.objects.filter(pk=dispute_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise Dispute.DoesNotExist
    order = Order.objects.select_for_update().get(pk=order_id)
    return order, Dispute.objects.select_for_update().get(pk=dispute_id)


def _dispute_close(order, dispute, *, outcome: str, amount_minor: int, reason: str, admin) -> Dispute:
    request = AfterSalesRequest.objects.select_for_update().get(pk=dispute.request_id)
    dispute.status = Dispute.Status.RULED
    dispute.outcome = outcome
    dispute.ruling_reason = reason
    dispute.ruled_by = admin
    dispute.ruled_at = timezone.now()
    label = Dispute.Outcome(outcome).label
    if outcome == Dispute.Outcome.RELEASE:
        dispute.save()
        _event(request=request, dispute=dispute, kind="ruled", actor=admin, note=f"Ruling: {label}. {reason}")
        _close_unrefunded(order, request, actor=admin, kind="closed", note=f"Ruling: {label}. {reason}")
        return dispute
    # The dispute is ruled first so the hold comes off when the request closes.
    dispute.outcome_minor = min(amount_minor, _refundable(order))
    dispute.save()
    _event(request=request, dispute=dispute, kind="ruled", actor=admin,
           note=f"Ruling: {label}, {money_format(dispute.outcome_minor)}. {reason}")  # fmt: skip
    _close_refunded(order, request, dispute.outcome_minor, actor=admin, kind="closed", note=f"Ruling: {label}.")
    return dispute


def dispute_rule(*, dispute_id: int, admin, outcome: str, reason: str, amount_minor=None) -> Dispute:
    """Staff decide an escalated request: full refund, partial refund or release."""
    if admin is None or not admin.is_staff:
        raise PermissionDenied("Only Circle Market staff can rule on a dispute.")
    rulings = (Dispute.Outcome.FULL_REFUND, Dispute.Outcome.PARTIAL_REFUND, Dispute.Outcome.RELEASE)
    if outcome not in rulings:
        raise DomainError("Choose a ruling: full refund, partial refund or release to the shop.", field="outcome")
    reason = _text(reason, field="reason", label="The written reason", minimum=10, maximum=2000)
    with transaction.atomic():
        order, dispute = _dispute_lock(dispute_id)
        if dispute.status != Dispute.Status.OPEN:
            raise ConflictError("This dispute is already closed.")
        if dispute.source != Dispute.Source.ESCALATION:
            raise ConflictError("A chargeback is decided by the card issuer, not here.")
        asked = dispute.request.amount_minor
        amount = asked
        if outcome == Dispute.Outcome.PARTIAL_REFUND:
            amount = _amount(amount_minor)
            if amount >= asked:
                raise DomainError(f"A partial refund must be less than the {money_format(asked)} asked for.",
                                  field="amount_minor")  # fmt: skip
        if amount > _refundable(order) and outcome != Dispute.Outcome.RELEASE:
            raise DomainError(f"Only {money_format(_refundable(order))} of this order can still be refunded.",
                              field="amount_minor")  # fmt: skip
        return _dispute_close(order, dispute, outcome=outcome, amount_minor=amount, reason=reason, admin=admin)


def dispute_fallback_apply(*, dispute_id: int) -> bool:
    """Nobody ruled by decide_by: the configured default outcome, once."""
    with transaction.atomic():
        order, dispute = _dispute_lock(dispute_id)
        if (
            dispute.status != Dispute.Status.OPEN
            or dispute.source != Dispute.Source.ESCALATION
            or dispute.decide_by > timezone.now()
        ):
            return False
        outcome = settings.MARKETPLACE_DISPUTE_DEFAULT_OUTCOME
        days = settings.MARKETPLACE_DISPUTE_AUTOCLOSE_DAYS
        _dispute_close(
            order, dispute, outcome=outcome, amount_minor=dispute.request.amount_minor, admin=None,
            reason=f"No ruling within {days} days: the default outcome applies.",
        )  # fmt: skip
    return True


# --- Chargebacks ------------------------------------------------------------------------


def chargeback_open(*, stripe_dispute_id: str, payment_intent_id: str, amount_minor: int, reason: str) -> list[Dispute]:
    """A card issuer opened a chargeback on a payment (a whole order group). The amount is
    spread over the group's orders in order; each unsettled one is held. Idempotent."""
    group = OrderGroup.objects.filter(payment_intent_id=payment_intent_id).first() if payment_intent_id else None
    if group is None or not stripe_dispute_id:
        return []
    disputes = []
    with transaction.atomic():
        orders = list(Order.objects.select_for_update().filter(group=group).order_by("pk"))
        left = amount_minor
        for order in orders:
            share = min(left, _refundable(order))
            if share <= 0:
                continue
            left -= share
            dispute, created = Dispute.objects.get_or_create(
                stripe_dispute_id=f"{stripe_dispute_id}:{order.pk}",
                defaults={
                    "order": order, "shop_id": order.shop_id, "source": Dispute.Source.CHARGEBACK,
                    "chargeback_minor": share, "chargeback_after_release": order.status == Order.Status.SETTLED,
                    "decide_by": timezone.now() + timedelta(days=settings.MARKETPLACE_DISPUTE_AUTOCLOSE_DAYS),
                },
            )  # fmt: skip
            if created:
                _event(dispute=dispute, kind="chargeback_opened",
                       note=f"The card issuer opened a chargeback of {money_format(share)} ({reason}).")  # fmt: skip
                if order.status not in (Order.Status.SETTLED, Order.Status.CANCELLED, Order.Status.EXPIRED):
                    _hold(order, f"chargeback {stripe_dispute_id}.")
            disputes.append(dispute)
    return disputes


def chargeback_close(*, stripe_dispute_id: str, won: bool) -> int:
    """The issuer decided. Won: the hold goes and nothing moves. Lost: the money is gone —
    out of escrow before release, a debt of the merchant (and promoters) after it."""
    ids = list(
        Dispute.objects.filter(
            stripe_dispute_id__startswith=f"{stripe_dispute_id}:", status=Dispute.Status.OPEN
        ).values_list("pk", flat=True)
    )
    closed = 0
    for dispute_id in ids:
        with transaction.atomic():
            order, dispute = _dispute_lock(dispute_id)
            if dispute.status != Dispute.Status.OPEN:
                continue
            dispute.status = Dispute.Status.CLOSED
            dispute.ruled_at = timezone.now()
            if won:
                dispute.outcome = Dispute.Outcome.CHARGEBACK_WON
                note = "The chargeback was decided for the shop; nothing was taken back."
            else:
                amount = min(dispute.chargeback_minor, _refundable(order))
                dispute.outcome = Dispute.Outcome.CHARGEBACK_LOST
                dispute.outcome_minor = amount
                if amount:
                    payment_services.refund_create(
                        order=order, amount_minor=amount, reason=f"Chargeback {stripe_dispute_id} lost",
                        chargeback_id=stripe_dispute_id,
                    )  # fmt: skip
                owed = " It is owed by the shop from its next payouts." if order.status == Order.Status.SETTLED else ""
                note = f"The card issuer gave the buyer {money_format(amount)} back.{owed}"
            dispute.save()
            _event(dispute=dispute, kind="chargeback_closed", note=note)
            _release_if_clear(order, "The chargeback was decided.")
            order.refresh_from_db()
            if order.status == Order.Status.PAID and not order.is_held and not _refundable(order):
                # Nothing is left to pay for: the shop must not ship it, and the stock goes back.
                payment_services.order_cancel(order_id=order.pk, actor=None, reason="The card issuer refunded it all.")
            closed += 1
    return closed


# --- Sanctions --------------------------------------------------------------------------


def _shop_status_sync(shop: Shop) -> None:
    """The shop's catalog status follows the strongest status sanction in force. A restriction
    placed outside the sanctions (a suspension from the shops admin) is left as it is: no
    sanction weakens or lifts it."""
    if shop.status != Shop.Status.ACTIVE and not _restricted_by_sanction(shop):
        return
    now = timezone.now()
    in_force = Sanction.objects.filter(shop=shop, ended_at__isnull=True, starts_at__lte=now, ends_at__gt=now)
    suspension = in_force.filter(kind=Sanction.Kind.SUSPENSION).first()
    freeze = in_force.filter(kind=Sanction.Kind.LISTING_FREEZE).first()
    if suspension:
        shop_services.shop_suspend(shop_id=shop.pk, reason=suspension.reason, by=Shop.RestrictedBy.SANCTION)
    elif freeze:
        shop_services.shop_listings_freeze(shop_id=shop.pk, reason=freeze.reason, by=Shop.RestrictedBy.SANCTION)
    elif shop.status != Shop.Status.ACTIVE:
        shop_services.shop_reinstate(shop_id=shop.pk)


def _restricted_by_sanction(shop: Shop) -> bool:
    return shop.restricted_by == Shop.RestrictedBy.SANCTION


def sanction_impose(*, shop_id: int, kind: str, reason: str, ends_at, admin) -> Sanction:
    if admin is None or not admin.is_staff:
        raise PermissionDenied("Only Circle Market staff can sanction a shop.")
    if kind not in Sanction.Kind.values:
        raise DomainError("Choose a sanction: warning, listing freeze, payout hold or suspension.", field="kind")
    reason = _text(reason, field="reason", label="The public reason", minimum=10, maximum=500)
    now = timezone.now()
    if ends_at is None or ends_at <= now:
        raise DomainError("The end date must be in the future.", field="ends_at")
    with transaction.atomic():
        shop = Shop.objects.select_for_update().get(pk=shop_id)
        sanction = Sanction(shop=shop, kind=kind, reason=reason, starts_at=now, ends_at=ends_at, created_by=admin)
        if kind == Sanction.Kind.PAYOUT_HOLD:
            sanction.payout_hold = payment_services.payout_hold_place(
                shop=shop, reason=f"Sanction: {reason}"[:200], by=admin
            )
        sanction.save()
        _shop_status_sync(shop)
    return sanction


def _sanction_end(sanction: Sanction) -> None:
    sanction.ended_at = timezone.now()
    sanction.save(update_fields=["ended_at", "lifted_at", "lifted_by"])
    if sanction.payout_hold_id:
        payment_services.payout_hold_lift(hold_id=sanction.payout_hold_id)
    _shop_status_sync(Shop.objects.select_for_update().get(pk=sanction.shop_id))


def sanction_lift(*, sanction_id: int, admin) -> Sanction:
    if admin is None or not admin.is_staff:
        raise PermissionDenied("Only Circle Market staff can lift a sanction.")
    with transaction.atomic():
        sanction = Sanction.objects.select_for_update().get(pk=sanction_id)
        if sanction.ended_at is not None:
            raise ConflictError("This sanction has already ended.")
        sanction.lifted_at = timezone.now()
        sanction.lifted_by = admin
        _sanction_end(sanction)
    return sanction


def sanction_expire(*, sanction_id: int) -> bool:
    """The sweeper: a sanction past its end date stops, once."""
    with transaction.atomic():
        sanction = Sanction.objects.select_for_update().get(pk=sanction_id)
        if sanction.ended_at is not None or sanction.ends_at > timezone.now():
            return False
        _sanction_end(sanction)
    return True
