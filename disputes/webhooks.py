"""Stripe chargeback events (charge.dispute.*), handed over by payments' webhook handler."""

from disputes import services


def charge_dispute_created(obj: dict) -> bool:
    disputes = services.chargeback_open(
        stripe_dispute_id=str(obj.get("id") or ""),
        payment_intent_id=str(obj.get("payment_intent") or ""),
        amount_minor=int(obj.get("amount") or 0),
        reason=str(obj.get("reason") or "unspecified")[:60],
    )
    return bool(disputes)


def charge_dispute_closed(obj: dict) -> bool:
    # Stripe's final statuses: "won", "lost", or "warning_closed" (an inquiry that became nothing).
    status = obj.get("status")
    if status not in ("won", "lost", "warning_closed"):
        return False
    if status == "lost" and obj.get("payment_intent"):
        # A chargeback can be closed without us having seen it open (a lost message).
        charge_dispute_created(obj)
    return bool(services.chargeback_close(stripe_dispute_id=str(obj.get("id") or ""), won=status != "lost"))
