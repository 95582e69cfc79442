"""A local Stripe for test mode: an HTTP client for the Stripe SDK that answers like Stripe.

Only the endpoints the marketplace uses exist. Objects live in Redis so the web process,
the worker and the tests see the same ones. A confirmed PaymentIntent puts a
`payment_intent.succeeded` (or `payment_intent.payment_failed`) event in an outbox;
`local_event_signed` turns an event into the exact body and Stripe-Signature header that
Stripe would send, and the webhook view verifies it like any other.
"""

import json
import secrets
import time
from collections import deque
from urllib.parse import parse_qsl, urlsplit

import redis
import stripe
from django.conf import settings

PREFIX = "localstripe:"
OUTBOX = PREFIX + "outbox"
API_VERSION = "2025-01-27.acacia"

# Stripe's documented test payment methods and what they do.
TEST_CARDS = {
    "pm_card_visa": ("succeeded", "fp_local_visa", None),
    "pm_card_mastercard": ("succeeded", "fp_local_mastercard", None),
    "pm_card_chargeDeclined": ("failed", "fp_local_declined", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": ("failed", "fp_local_nofunds", "Your card has insufficient funds."),
}


_clients: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis:
    # One connection pool per process and URL: a new client per call would reconnect each time.
    client = _clients.get(settings.REDIS_URL)
    if client is None:
        client = _clients[settings.REDIS_URL] = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    return client


def _new_id(prefix: str) -> str:
    return f"{prefix}_local_{secrets.token_hex(12)}"


def _parse_form(body) -> dict:
    """Stripe's form encoding (a[b]=c, a[0]=d) back into nested dicts and lists."""
    if not body:
        return {}
    if isinstance(body, bytes):
        body = body.decode()
    out: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    for name, value in list(out.items()):
        if isinstance(value, dict) and value and all(k.isdigit() for k in value):
            out[name] = [value[k] for k in sorted(value, key=int)]
    return out


class LocalStripeHTTPClient(stripe.HTTPClient):
    name = "circle-local-stripe"

    def __init__(self):
        super().__init__()
        # The latest requests (method, path), for tests that count calls; bounded for long runs.
        self.requests: deque[tuple[str, str]] = deque(maxlen=10_000)

    def close(self):
        return None

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        path = urlsplit(url).path
        self.requests.append((method.upper(), path))
        store = _redis()
        key = (headers or {}).get("Idempotency-Key")
        if key and method.lower() == "post":
            cached = store.get(f"{PREFIX}idem:{key}")
            if cached:
                status, body = json.loads(cached)
                return body, status, {"Idempotent-Replayed": "true", "Request-Id": _new_id("req")}
        # Reads go to Redis at once; a request's writes (objects, events, its idempotent answer)
        # are applied together at the end, in one MULTI/EXEC round trip.
        writes = store.pipeline(transaction=True)
        status, obj = self._route(store, writes, method.lower(), path, _parse_form(post_data))
        body = json.dumps(obj)
        if key and method.lower() == "post":
            writes.set(f"{PREFIX}idem:{key}", json.dumps([status, body]), ex=86400)
        writes.execute()
        return body, status, {"Request-Id": _new_id("req")}

    # --- Routing -------------------------------------------------------------------------

    def _route(self, store, writes, method, path, params) -> tuple[int, dict]:
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        try:
            if parts == ["payment_intents"] and method == "post":
                return 200, self._pi_create(writes, params)
            if len(parts) == 2 and parts[0] == "payment_intents" and method == "get":
                return 200, self._get(store, parts[1])
            if len(parts) == 3 and parts[0] == "payment_intents" and parts[2] == "confirm":
                return self._pi_confirm(store, writes, parts[1], params)
            if len(parts) == 3 and parts[0] == "payment_intents" and parts[2] == "cancel":
                return self._pi_cancel(store, writes, parts[1], params)
            if parts == ["refunds"] and method == "post":
                return self._refund(store, writes, params)
            if parts == ["transfers"] and method == "post":
                return self._transfer(store, writes, params)
            if parts == ["accounts"] and method == "post":
                account = {"id": _new_id("acct"), "object": "account", "type": params.get("type"),
                           "email": params.get("email")}  # fmt: skip
                return 200, self._save(writes, account, expires=False)
        except KeyError as exc:
            return 404, _error("invalid_request_error", f"No such object: {exc.args[0]}", code="resource_missing")
        return 404, _error("invalid_request_error", f"Unrecognized request URL ({method.upper()} {path}).")

    def _save(self, writes, obj: dict, *, expires: bool = True) -> dict:
        writes.set(PREFIX + obj["id"], json.dumps(obj), ex=30 * 86400 if expires else None)
        return obj

    def _transfer(self, store, writes, params) -> tuple[int, dict]:
        destination = params.get("destination", "")
        if store.get(PREFIX + destination) is None:
            # What Stripe answers for an account that does not exist (or was closed).
            return 400, _error("invalid_request_error", f"No such destination: '{destination}'",
                               code="resource_missing", param="destination")  # fmt: skip
        transfer = {"id": _new_id("tr"), "object": "transfer", "amount": int(params["amount"]),
                    "currency": params["currency"], "destination": destination}  # fmt: skip
        return 200, self._save(writes, transfer)

    def _get(self, store, object_id: str) -> dict:
        raw = store.get(PREFIX + object_id)
        if raw is None:
            raise KeyError(object_id)
        return json.loads(raw)

    def _pi_create(self, writes, params) -> dict:
        pi_id = _new_id("pi")
        return self._save(writes, {
            "id": pi_id, "object": "payment_intent", "amount": int(params["amount"]), "currency": params["currency"],
            "status": "requires_payment_method", "client_secret": f"{pi_id}_secret_{secrets.token_hex(8)}",
            "payment_method_types": params.get("payment_method_types", ["card"]),
            "transfer_group": params.get("transfer_group"), "metadata": params.get("metadata", {}),
            "latest_charge": None, "amount_received": 0, "created": int(time.time()), "livemode": False,
        })  # fmt: skip

    def _pi_confirm(self, store, writes, pi_id, params) -> tuple[int, dict]:
        pi = self._get(store, pi_id)
        if pi["status"] == "succeeded":
            return 400, _error("invalid_request_error", "This PaymentIntent has already succeeded.",
                               code="payment_intent_unexpected_state")  # fmt: skip
        if pi["status"] == "canceled":
            return 400, _error("invalid_request_error", "This PaymentIntent was canceled.",
                               code="payment_intent_unexpected_state")  # fmt: skip
        outcome, fingerprint, decline = TEST_CARDS.get(params.get("payment_method", ""), (None, None, None))
        if outcome is None:
            return 400, _error("invalid_request_error", "No such PaymentMethod.", code="resource_missing")
        pi["payment_method"] = params["payment_method"]
        if outcome == "failed":
            pi["status"] = "requires_payment_method"
            pi["last_payment_error"] = {"code": "card_declined", "message": decline}
            self._save(writes, pi)
            _outbox_push(writes, "payment_intent.payment_failed", pi)
            return 402, _error("card_error", decline, code="card_declined", decline_code="generic_decline")
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
        pi["latest_charge"] = _new_id("ch")
        pi["metadata"]["card_fingerprint"] = fingerprint
        self._save(writes, pi)
        _outbox_push(writes, "payment_intent.succeeded", pi)
        return 200, pi

    def _pi_cancel(self, store, writes, pi_id, params) -> tuple[int, dict]:
        pi = self._get(store, pi_id)
        if pi["status"] in ("succeeded", "canceled"):
            # Stripe refuses to cancel a PaymentIntent that is paid or already cancelled.
            return 400, _error("invalid_request_error",
                               f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}.",
                               code="payment_intent_unexpected_state")  # fmt: skip
        pi["status"] = "canceled"
        pi["canceled_at"] = int(time.time())
        pi["cancellation_reason"] = params.get("cancellation_reason")
        return 200, self._save(writes, pi)

    def _refund(self, store, writes, params) -> tuple[int, dict]:
        pi = self._get(store, params["payment_intent"])
        amount = int(params.get("amount", pi["amount"]))
        refunded = int(pi.get("amount_refunded", 0))
        if pi["status"] != "succeeded" or amount + refunded > pi["amount"]:
            return 400, _error("invalid_request_error", "Refund amount is greater than the unrefunded charge.",
                               code="charge_already_refunded")  # fmt: skip
        pi["amount_refunded"] = refunded + amount
        self._save(writes, pi)
        refund = {"id": _new_id("re"), "object": "refund", "amount": amount, "status": "succeeded",
                  "payment_intent": pi["id"]}  # fmt: skip
        return 200, self._save(writes, refund)


def _error(kind: str, message: str, **extra) -> dict:
    return {"error": {"type": kind, "message": message, **extra}}


def _outbox_push(writes, event_type: str, obj: dict) -> None:
    event = {
        "id": _new_id("evt"), "object": "event", "type": event_type, "api_version": API_VERSION,
        "created": int(time.time()), "livemode": False, "data": {"object": obj},
    }  # fmt: skip
    writes.rpush(OUTBOX, json.dumps(event))


def local_events_take() -> list[dict]:
    """Take every event waiting in the outbox (each is delivered once)."""
    # Read and emptied in one MULTI/EXEC: concurrent takers never get the same event.
    raw_events, _ = _redis().pipeline(transaction=True).lrange(OUTBOX, 0, -1).delete(OUTBOX).execute()
    return [json.loads(raw) for raw in raw_events]


def local_event_signed(event: dict, *, timestamp: int | None = None, secret: str | None = None) -> tuple[bytes, str]:
    """The body and Stripe-Signature header Stripe would send for `event`."""
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(
        payload, secret or settings.STRIPE_WEBHOOK_SECRET, timestamp=timestamp
    )
    return payload.encode(), header


def local_event_requeue(event: dict) -> None:
    """Put an undelivered event back at the head of the outbox, unchanged."""
    _redis().lpush(OUTBOX, json.dumps(event))
