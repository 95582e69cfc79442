"""Test-mode payments cannot be steered from outside."""

import base64
import json
import os
import secrets
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import redis
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from payments import services as payment_services
from payments import stripe_client
from payments.local_stripe import local_events_take
from payments.tasks import local_events_deliver_task
from tests.factories import UserFactory, make_product
from tests.helpers import place

ROOT = Path(__file__).resolve().parents[2]
LOCAL_SECRET = "whsec_local_test_mode"  # noqa: S105 - the public default under test


class _Recorder(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, self.headers.get("Stripe-Signature"), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    """A stand-in for our own site at SITE_URL, recording what is POSTed to it."""
    _Recorder.received = []
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _Recorder.received
    server.shutdown()
    server.server_close()


def _placed(buyer, product):
    """A checkout with its PaymentIntent, as the checkout request leaves it."""
    group = place(buyer, (product.variants.get(), 1))
    return payment_services.payment_intent_ensure(group_id=group.pk, placed=group)


def _queued_task_args(settings) -> list:
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    messages = [json.loads(raw) for raw in broker.lrange("celery", 0, -1)]
    return [
        json.loads(base64.b64decode(m["body"]))[0]
        for m in messages
        if m["headers"]["task"] == "payments.tasks.local_events_deliver_task"
    ]


@pytest.mark.django_db
def test_paying_enqueues_delivery_without_the_callers_host(client, settings):
    # given a buyer paying in test mode through a Host header of their choosing
    settings.ALLOWED_HOSTS = ["*"]
    buyer = UserFactory()
    product = make_product()
    group = _placed(buyer, product)
    client.force_login(buyer)
    # when they pay
    response = client.post(f"/pay/{group.pk}/", {"card": "pm_card_visa"}, HTTP_HOST="attacker.example")
    # then the worker is asked to deliver, with no address from the request
    assert response.status_code == 302
    assert _queued_task_args(settings) == [[]]


@pytest.mark.django_db
def test_the_local_stripe_delivers_webhooks_to_the_site_url_only(client, settings, site):
    # given a paid checkout whose events wait in the local Stripe's outbox
    url, received = site
    settings.SITE_URL = url
    settings.ALLOWED_HOSTS = ["*"]
    buyer = UserFactory()
    group = _placed(buyer, make_product())
    client.force_login(buyer)
    client.post(f"/pay/{group.pk}/", {"card": "pm_card_visa"}, HTTP_HOST="attacker.example")
    # when the worker delivers them
    sent = local_events_deliver_task.apply().get()
    # then every event went to our own webhook at SITE_URL, signed
    assert sent >= 1
    assert len(received) == sent
    assert {path for path, _, _ in received} == {"/payments/stripe/webhook/"}
    assert all(signature and "v1=" in signature for _, signature, _ in received)
    assert "payment_intent.succeeded" in {event["type"] for _, _, event in received}
    assert local_events_take() == []


@pytest.mark.django_db
def test_without_a_site_url_nothing_is_delivered_and_the_events_wait(settings, site):
    url, received = site
    settings.SITE_URL = ""
    group = _placed(UserFactory(), make_product())
    stripe_client.payment_intent_confirm_test(payment_intent_id=group.payment_intent_id, payment_method="pm_card_visa")
    assert local_events_deliver_task.apply().get() == 0
    assert received == []
    assert local_events_take() != []


def _payment_errors() -> set[str]:
    try:
        call_command("check", deploy=True, fail_level="ERROR", tags=["security"])
    except SystemCheckError as exc:
        return {code for code in ("payments.E010", "payments.E011", "payments.E012") if code in str(exc)}
    return set()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # the public secret fails, staging or not
        ({"STAGING": False, "DEBUG": False, "STRIPE_WEBHOOK_SECRET": LOCAL_SECRET}, {"payments.E010", "payments.E011"}),
        ({"STAGING": True, "DEBUG": False, "STRIPE_WEBHOOK_SECRET": LOCAL_SECRET}, {"payments.E010"}),
        # test mode outside DEBUG fails unless staging is declared
        ({"STAGING": False, "DEBUG": False, "STRIPE_WEBHOOK_SECRET": "whsec_own"}, {"payments.E011"}),
        ({"STAGING": True, "DEBUG": False, "STRIPE_WEBHOOK_SECRET": "whsec_own"}, set()),
        ({"STAGING": True, "DEBUG": False, "STRIPE_WEBHOOK_SECRET": "whsec_own", "SITE_URL": ""}, {"payments.E012"}),
        ({"STAGING": False, "DEBUG": True, "STRIPE_WEBHOOK_SECRET": "whsec_own"}, set()),
    ],
)
def test_check_deploy_refuses_steerable_test_mode(settings, overrides, expected):
    settings.STRIPE_TEST_MODE = True
    settings.SITE_URL = "https://staging.example.com"
    for name, value in overrides.items():
        setattr(settings, name, value)
    assert _payment_errors() == expected


def test_check_deploy_fails_with_the_default_test_secret_outside_staging():
    # given production settings in test mode, declared staging but with the default secret
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_VERSION", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(
        PRODUCTION="true",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="staging.example.com",
        SITE_URL="https://staging.example.com",
        STAGING="true",
    )
    env.pop("STRIPE_SECRET_KEY", None)
    env.pop("STRIPE_WEBHOOK_SECRET", None)
    args = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    refused = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0
    assert "payments.E010" in refused.stderr + refused.stdout
    # when the site sets its own secret, the deploy check passes
    allowed = subprocess.run(
        args,
        cwd=ROOT,
        env=env | {"STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(16)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
