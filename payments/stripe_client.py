"""The only module that talks to Stripe.

With STRIPE_SECRET_KEY set it is the real Stripe. Without one (make run, tests) the same
Stripe SDK calls go through payments.local_stripe.LocalStripeHTTPClient, an HTTP client
that answers like Stripe; tests may inject their own client with `http_client_set`.
"""

import json
import logging

import stripe
from django.conf import settings

from marketplace.money import money_for_stripe

logger = logging.getLogger(__name__)

_http_client_override: stripe.HTTPClient | None = None


class StripeFailure(Exception):
    """Stripe refused or could not be reached; `user_message` is safe to show.

    `permanent` means Stripe refused the request itself (a declined card, a closed
    account): sending it again would be refused again. Otherwise it may be retried.
    `code` is Stripe's error code, when it gave one."""

    def __init__(
        self,
        message: str,
        *,
        user_message: str = "The payment service did not answer. Try again.",
        permanent: bool = False,
        code: str = "",
    ):
        super().__init__(message)
        self.user_message = user_message
        self.permanent = permanent
        self.code = code


def http_client_set(client: stripe.HTTPClient | None) -> None:
    """Inject the HTTP client the SDK uses (tests); None restores the default."""
    global _http_client_override
    _http_client_override = client


_clients: dict[tuple, stripe.StripeClient] = {}


def _client() -> stripe.StripeClient:
    """The SDK client, built once per process and configuration (it keeps its HTTP session)."""
    key = (id(_http_client_override), settings.STRIPE_SECRET_KEY, settings.STRIPE_TEST_MODE)
    client = _clients.get(key)
    if client is not None:
        return client
    if _http_client_override is not None:
        http = _http_client_override
    elif settings.STRIPE_TEST_MODE:
        from payments.local_stripe import LocalStripeHTTPClient

        http = LocalStripeHTTPClient()
    else:
        http = None
    api_key = settings.STRIPE_SECRET_KEY or "sk_test_local_mode"
    client = _clients[key] = stripe.StripeClient(api_key, http_client=http, max_network_retries=2)
    return client


def payment_methods() -> list[str]:
    methods = ["card"]
    # Alipay and WeChat Pay settle in these currencies (Stripe's list).
    if settings.MARKETPLACE_CURRENCY in {"CNY", "AUD", "CAD", "EUR", "GBP", "HKD", "JPY", "SGD", "USD"}:
        methods += ["alipay", "wechat_pay"]
    return methods


def _request(method: str, path: str, *, idempotency_key: str | None = None, **params) -> dict:
    """One Stripe API call through the SDK's requestor (its retries, headers and errors),
    answered as the plain JSON object: the SDK's typed objects cost more to build than the
    call itself, and nothing here needs them."""
    if idempotency_key:
        params["idempotency_key"] = idempotency_key
    try:
        return _client().raw_request(method, path, **params).data
    except stripe.StripeError as exc:
        code = exc.code or ""
        logger.warning(
            "stripe call failed: %s", exc.user_message or exc,
            extra={"stripe_error": type(exc).__name__, "stripe_code": code, "http_status": exc.http_status or 0,
                   "stripe_request_id": exc.request_id or ""},
        )  # fmt: skip
        if isinstance(exc, stripe.CardError):
            refused = {"user_message": exc.user_message or "The card was declined.", "permanent": True}
        elif isinstance(exc, stripe.InvalidRequestError | stripe.PermissionError):
            refused = {"user_message": f"Stripe refused it: {exc.user_message or exc}", "permanent": True}
        else:
            refused = {}
        raise StripeFailure(str(exc), code=code, **refused) from exc


def payment_intent_create(*, amount_minor: int, group_id: int, idempotency_key: str) -> dict:
    intent = _request(
        "post",
        "/v1/payment_intents",
        idempotency_key=idempotency_key,
        amount=money_for_stripe(amount_minor),
        currency=settings.MARKETPLACE_CURRENCY.lower(),
        payment_method_types=payment_methods(),
        transfer_group=f"group_{group_id}",
        metadata={"order_group_id": str(group_id)},
    )
    return {"id": intent["id"], "client_secret": intent["client_secret"], "status": intent["status"]}


def card_fingerprint_of(*, payment_intent: dict) -> str:
    """The card fingerprint of a paid PaymentIntent, where Stripe keeps it: the latest
    charge's payment_method_details.card.fingerprint. A webhook's PaymentIntent names the
    charge by id (fetched here); an expanded one carries it whole. Empty for other methods."""
    charge = payment_intent.get("latest_charge")
    if isinstance(charge, str) and charge:
        charge = _request("get", f"/v1/charges/{charge}")
    if not isinstance(charge, dict):
        return ""
    card = (charge.get("payment_method_details") or {}).get("card") or {}
    return str(card.get("fingerprint") or "")


def payment_intent_confirm_test(*, payment_intent_id: str, payment_method: str) -> dict:
    """Test mode only: confirm with a Stripe test payment method (pm_card_visa, ...)."""
    intent = _request("post", f"/v1/payment_intents/{payment_intent_id}/confirm", payment_method=payment_method)
    return {"id": intent["id"], "status": intent["status"]}


def payment_intent_retrieve(*, payment_intent_id: str) -> dict:
    """Stripe's own record of a PaymentIntent: what a webhook event says is checked against it."""
    intent = _request("get", f"/v1/payment_intents/{payment_intent_id}")
    return {
        "id": intent["id"],
        "status": intent["status"],
        "amount": int(intent["amount"]),
        "amount_received": int(intent.get("amount_received") or 0),
        "metadata": intent.get("metadata") or {},
        # The charge by id (or expanded): where the card fingerprint lives.
        "latest_charge": intent.get("latest_charge"),
    }


def payment_intent_cancel(*, payment_intent_id: str, idempotency_key: str) -> str:
    """Cancel a PaymentIntent so that it can no longer be paid; returns its status. Stripe
    refuses to cancel one that was paid (or cancelled) already: its status is returned then."""
    try:
        intent = _request(
            "post",
            f"/v1/payment_intents/{payment_intent_id}/cancel",
            idempotency_key=idempotency_key,
            cancellation_reason="abandoned",
        )
    except StripeFailure as exc:
        if exc.code != "payment_intent_unexpected_state":
            raise
        intent = _request("get", f"/v1/payment_intents/{payment_intent_id}")
    return intent["status"]


def refund_create(*, payment_intent_id: str, amount_minor: int, idempotency_key: str) -> dict:
    """Refund from the platform's charge. With separate charges and transfers the shop's
    share is not taken back from its account here: the ledger makes it a debt on the
    shop's balance, netted against its next payout."""
    refund = _request(
        "post",
        "/v1/refunds",
        idempotency_key=idempotency_key,
        payment_intent=payment_intent_id,
        amount=money_for_stripe(amount_minor),
    )
    return {"id": refund["id"], "status": refund["status"]}


def transfer_create(*, amount_minor: int, destination: str, idempotency_key: str) -> dict:
    """A payout: move money from the platform's Stripe balance to a connected account."""
    transfer = _request(
        "post",
        "/v1/transfers",
        idempotency_key=idempotency_key,
        amount=amount_minor,
        currency=settings.MARKETPLACE_CURRENCY.lower(),
        destination=destination,
    )
    return {"id": transfer["id"]}


def account_create(*, email: str, idempotency_key: str) -> str:
    """A Stripe Connect (Express) account for a shop or a promoter; returns its id."""
    account = _request(
        "post",
        "/v1/accounts",
        idempotency_key=idempotency_key,
        type="express",
        email=email,
        capabilities={"transfers": {"requested": True}},
    )
    return account["id"]


def webhook_event_verify(*, payload: bytes, signature: str) -> dict:
    """Verify the Stripe-Signature header (HMAC and a 5-minute timestamp tolerance) with the
    SDK; returns the event as parsed JSON. Raises stripe.SignatureVerificationError, or
    ValueError for a body that is not a JSON object."""
    stripe.WebhookSignature.verify_header(payload, signature, settings.STRIPE_WEBHOOK_SECRET, tolerance=300)
    event = json.loads(payload)
    if not isinstance(event, dict):
        raise ValueError("The body is not a JSON object.")
    return event
