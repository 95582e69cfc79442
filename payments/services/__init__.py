"""Money movements, by concept: every one is a balanced ledger transaction with an
idempotency key. The split rule is payments.split; reads are payments.selectors.

| module | holds |
|---|---|
| capture | a paid group's money into escrow; the capture screens other apps register |
| order_transitions | the order transitions that move money: paid, cancel, hold, expire |
| commissions | an order's commissions frozen and thawed while it is held |
| refunds | refunds: postings now, the Stripe call after commit |
| settlement | batched release of held orders (set-based SQL) |
| payouts | available balances paid out as Stripe transfers |
| reconciliation | proof of the books |
| intents | one PaymentIntent per order group |
| webhooks | Stripe events, stored once and applied |
| alerts | staff alerts (a webhook event in the dead letter) |
"""

from payments.services.alerts import staff_alert_open, staff_alert_resolve
from payments.services.capture import capture_screen_register, escrow_capture
from payments.services.commissions import commission_freeze, commission_unfreeze
from payments.services.intents import (
    PAYMENT_INTENT_CLAIM_STALE,
    PaymentIntentPending,
    payment_intent_cancel,
    payment_intent_ensure,
)
from payments.services.order_transitions import (
    order_cancel,
    order_cancel_unshipped,
    order_group_expire,
    order_group_mark_paid,
    order_hold,
    order_release_hold,
)
from payments.services.payouts import (
    PAYOUT_SUBMIT_BATCH,
    payout_account_connect,
    payout_hold_lift,
    payout_hold_place,
    payouts_finish,
    payouts_run,
    payouts_submit,
)
from payments.services.reconciliation import ReconciliationReport, reconcile
from payments.services.refunds import refund_create, refund_submit
from payments.services.settlement import (
    SETTLEMENT_DUE_SQL,
    SETTLEMENT_HOLD_NOTE,
    SettlementBatch,
    orders_settle,
    orders_settle_due_batch,
)
from payments.services.webhooks import (
    PaymentRefused,
    WebhookRejected,
    payment_intent_refund_whole,
    webhook_event_handle,
    webhook_handler_register,
    webhook_receive,
)
from payments.split import SettlementParts, settlement_parts

__all__ = [
    "PAYMENT_INTENT_CLAIM_STALE",
    "PAYOUT_SUBMIT_BATCH",
    "SETTLEMENT_DUE_SQL",
    "SETTLEMENT_HOLD_NOTE",
    "PaymentIntentPending",
    "PaymentRefused",
    "ReconciliationReport",
    "SettlementBatch",
    "SettlementParts",
    "WebhookRejected",
    "capture_screen_register",
    "commission_freeze",
    "commission_unfreeze",
    "escrow_capture",
    "order_cancel",
    "order_cancel_unshipped",
    "order_group_expire",
    "order_group_mark_paid",
    "order_hold",
    "order_release_hold",
    "orders_settle",
    "orders_settle_due_batch",
    "payment_intent_cancel",
    "payment_intent_ensure",
    "payment_intent_refund_whole",
    "payout_account_connect",
    "payout_hold_lift",
    "payout_hold_place",
    "payouts_finish",
    "payouts_run",
    "payouts_submit",
    "reconcile",
    "refund_create",
    "refund_submit",
    "settlement_parts",
    "staff_alert_open",
    "staff_alert_resolve",
    "webhook_event_handle",
    "webhook_handler_register",
    "webhook_receive",
]
