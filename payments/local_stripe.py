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
        method, path = method.lower(), urlsplit(url).path
        self.requests.append((method.upper(), path))
        params = _parse_form(post_data)
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        key = (headers or {}).get("Idempotency-Key") if method == "post" else None
        idem_key = f"{PREFIX}idem:{key}" if key else None
        # Two round trips at most: one read (the object the request works on, and an earlier
        # answer to the same key), then all the writes and this answer in one atomic script,
        # which returns the earlier answer instead if there is one. With no object to read,
        # the script alone.
        object_key = _object_read(parts, params)
        found = {}
        if object_key:
            read_keys = [object_key, *([idem_key] if idem_key else [])]
            found = dict(zip(read_keys, _redis().mget(read_keys), strict=True))
            if found.get(idem_key):
                return _replayed(found[idem_key])
        writes = _Writes()
        status, obj = self._route(found, writes, method, parts, path, params)
        body = json.dumps(obj)
        earlier = writes.commit(idem_key, json.dumps([status, body]))
        if earlier is not None:
            # A concurrent request with the same key answered first; this one changed nothing.
            return _replayed(earlier)
        return body, status, {"Request-Id": _new_id("req")}

    # --- Routing -------------------------------------------------------------------------

    def _route(self, found, writes, method, parts, path, params) -> tuple[int, dict]:
        try:
            if parts == ["payment_intents"] and method == "post":
                return 200, self._pi_create(writes, params)
            if len(parts) == 2 and parts[0] == "payment_intents" and method == "get":
                return 200, _get(found, parts[1])
            if len(parts) == 2 and parts[0] == "charges" and method == "get":
                return 200, _get(found, parts[1])
            if len(parts) == 3 and parts[0] == "payment_intents" and parts[2] == "confirm":
                return self._pi_confirm(found, writes, parts[1], params)
            if len(parts) == 3 and parts[0] == "payment_intents" and parts[2] == "cancel":
                return self._pi_cancel(found, writes, parts[1], params)
            if parts == ["refunds"] and method == "post":
                return self._refund(found, writes, params)
            if parts == ["transfers"] and method == "post":
                return self._transfer(found, writes, params)
            if parts == ["accounts"] and method == "post":
                account = {"id": _new_id("acct"), "object": "account", "type": params.get("type"),
                           "email": params.get("email")}  # fmt: skip
                return 200, writes.save(account, expires=False)
        except KeyError as exc:
            return 404, _error("invalid_request_error", f"No such object: {exc.args[0]}", code="resource_missing")
        return 404, _error("invalid_request_error", f"Unrecognized request URL ({method.upper()} {path}).")

    def _transfer(self, found, writes, params) -> tuple[int, dict]:
        destination = params.get("destination", "")
        if found.get(PREFIX + destination) is None:
            # What Stripe answers for an account that does not exist (or was closed).
            return 400, _error("invalid_request_error", f"No such destination: '{destination}'",
                               code="resource_missing", param="destination")  # fmt: skip
        transfer = {"id": _new_id("tr"), "object": "transfer", "amount": int(params["amount"]),
                    "currency": params["currency"], "destination": destination}  # fmt: skip
        return 200, writes.save(transfer)

    def _pi_create(self, writes, params) -> dict:
        pi_id = _new_id("pi")
        return writes.save({
            "id": pi_id, "object": "payment_intent", "amount": int(params["amount"]), "currency": params["currency"],
            "status": "requires_payment_method", "client_secret": f"{pi_id}_secret_{secrets.token_hex(8)}",
            "payment_method_types": params.get("payment_method_types", ["card"]),
            "transfer_group": params.get("transfer_group"), "metadata": params.get("metadata", {}),
            "latest_charge": None, "amount_received": 0, "created": int(time.time()), "livemode": False,
        })  # fmt: skip

    def _pi_confirm(self, found, writes, pi_id, params) -> tuple[int, dict]:
        pi = _get(found, pi_id)
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
            writes.save(pi)
            writes.event("payment_intent.payment_failed", pi)
            return 402, _error("card_error", decline, code="card_declined", decline_code="generic_decline")
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
        # The card's fingerprint lives where Stripe puts it: on the charge's payment method details.
        charge = writes.save({
            "id": _new_id("ch"), "object": "charge", "amount": pi["amount"], "currency": pi["currency"],
            "paid": True, "status": "succeeded", "payment_intent": pi["id"], "payment_method": pi["payment_method"],
            "payment_method_details": {"type": "card", "card": {
                "brand": pi["payment_method"].removeprefix("pm_card_").lower(), "fingerprint": fingerprint,
                "funding": "credit", "country": "US"}},
            "created": int(time.time()), "livemode": False,
        })  # fmt: skip
        pi["latest_charge"] = charge["id"]
        writes.save(pi)
        writes.event("payment_intent.succeeded", pi)
        return 200, pi

    def _pi_cancel(self, found, writes, pi_id, params) -> tuple[int, dict]:
        pi = _get(found, pi_id)
        if pi["status"] in ("succeeded", "canceled"):
            # Stripe refuses to cancel a PaymentIntent that is paid or already cancelled.
            return 400, _error("invalid_request_error",
                               f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}.",
                               code="payment_intent_unexpected_state")  # fmt: skip
        pi["status"] = "canceled"
        pi["canceled_at"] = int(time.time())
        pi["cancellation_reason"] = params.get("cancellation_reason")
        return 200, writes.save(pi)

    def _refund(self, found, writes, params) -> tuple[int, dict]:
        pi = _get(found, params["payment_intent"])
        amount = int(params.get("amount", pi["amount"]))
        refunded = int(pi.get("amount_refunded", 0))
        if pi["status"] != "succeeded" or amount + refunded > pi["amount"]:
            return 400, _error("invalid_request_error", "Refund amount is greater than the unrefunded charge.",
                               code="charge_already_refunded")  # fmt: skip
        pi["amount_refunded"] = refunded + amount
        writes.save(pi)
        refund = {"id": _new_id("re"), "object": "refund", "amount": amount, "status": "succeeded",
                  "payment_intent": pi["id"]}  # fmt: skip
        return 200, writes.save(refund)


def _error(kind: str, message: str, **extra) -> dict:
    return {"error": {"type": kind, "message": message, **extra}}


def _object_read(parts: list[str], params: dict) -> str | None:
    """The Redis key of the object a request works on, if any."""
    if len(parts) >= 2 and parts[0] in ("payment_intents", "charges"):
        return PREFIX + parts[1]
    if parts == ["refunds"] and params.get("payment_intent"):
        return PREFIX + params["payment_intent"]
    if parts == ["transfers"] and params.get("destination"):
        return PREFIX + params["destination"]
    return None


def _get(found: dict, object_id: str) -> dict:
    raw = found.get(PREFIX + object_id)
    if raw is None:
        raise KeyError(object_id)
    return json.loads(raw)


def _replayed(earlier: str):
    status, body = json.loads(earlier)
    return body, status, {"Idempotent-Replayed": "true", "Request-Id": _new_id("req")}


# A request's writes, all or none, in one round trip. When ARGV[1] is "1", KEYS[1] is the
# idempotency key: if it has an answer already, that answer is returned and nothing is
# written. Otherwise each key gets its (op, value, expiry in seconds or 0) triple from ARGV.
_COMMIT_LUA = """
if ARGV[1] == '1' then
    local earlier = redis.call('GET', KEYS[1])
    if earlier then return earlier end
end
for i = 1, #KEYS do
    local op, value, ttl = ARGV[3 * i - 1], ARGV[3 * i], tonumber(ARGV[3 * i + 1])
    if op == 'rpush' then
        redis.call('RPUSH', KEYS[i], value)
    elseif ttl > 0 then
        redis.call('SET', KEYS[i], value, 'EX', ttl)
    else
        redis.call('SET', KEYS[i], value)
    end
end
return false
"""

_TAKE_LUA = "local events = redis.call('LRANGE', KEYS[1], 0, -1) redis.call('DEL', KEYS[1]) return events"

_scripts: dict = {}


def _script(source: str):
    client = _redis()
    script = _scripts.get((id(client), source))
    if script is None:
        script = _scripts[(id(client), source)] = client.register_script(source)
    return script


class _Writes:
    """What a request changes, applied together by commit()."""

    def __init__(self):
        self.keys: list[str] = []
        self.args: list = []

    def save(self, obj: dict, *, expires: bool = True) -> dict:
        self.keys.append(PREFIX + obj["id"])
        self.args += ["set", json.dumps(obj), 30 * 86400 if expires else 0]
        return obj

    def event(self, event_type: str, obj: dict) -> None:
        """Put an event for `obj` in the outbox, as Stripe would send it."""
        event = {
            "id": _new_id("evt"), "object": "event", "type": event_type, "api_version": API_VERSION,
            "created": int(time.time()), "livemode": False, "data": {"object": obj},
        }  # fmt: skip
        self.keys.append(OUTBOX)
        self.args += ["rpush", json.dumps(event), 0]

    def commit(self, idem_key: str | None, answer: str) -> str | None:
        """Apply the writes, recording `answer` under the idempotency key if there is one.
        Returns the earlier answer instead when the key has one (nothing is written then)."""
        if idem_key:
            return _script(_COMMIT_LUA)(keys=[idem_key, *self.keys], args=["1", "set", answer, 86400, *self.args])
        if self.keys:
            _script(_COMMIT_LUA)(keys=self.keys, args=["0", *self.args])
        return None


def local_events_take() -> list[dict]:
    """Take every event waiting in the outbox (each is delivered once)."""
    # Read and emptied in one script: concurrent takers never get the same event.
    return [json.loads(raw) for raw in _script(_TAKE_LUA)(keys=[OUTBOX])]


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
