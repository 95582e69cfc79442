"""The API keeps its word: Schemathesis drives every operation of the published OpenAPI schema
as an anonymous caller, a buyer, a merchant and staff, and every answer must match the schema.

The schema is read from the app itself (so operations added later, reviews included, are
tested without touching this file), the generation is bounded and seeded, and the requests
go through the WSGI app in the test's own database transaction.
"""

import pytest
import schemathesis
from django.core.signals import request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

from tests.marketplace.api_world import World, api_schema, api_world

# Every built-in check runs (`--checks all`), with these two exceptions, each a false positive:
# - `ignored_auth` for a caller with a token: it replaces one documented scheme (the session
#   cookie) with a made-up value and expects a refusal, but the request still carries the
#   caller's valid token, so a 200 is right. It runs for the anonymous caller, where every
#   private operation must refuse.
# - `positive_data_acceptance` on the operations in RULES_BEYOND_THE_SCHEMA (below).
# `max_response_time` runs but is given no limit: tests hold no wall-clock limits.
FALSE_POSITIVES_WITH_A_TOKEN = {"ignored_auth"}

# Operations whose valid input depends on more than its shape: the schema states every rule
# on a single value, but not these, so a schema-valid request is rightly refused with a 400
# there and `positive_data_acceptance` is skipped for them alone (every other check runs).
RULES_BEYOND_THE_SCHEMA = {
    "POST /api/v1/after-sales/": "which reasons fit which kind (no-reason is a return); whose lines they are",
    "POST /api/v1/after-sales/{request_id}/evidence/": "a photo must be a picture; random bytes are refused",
    "POST /api/v1/after-sales/{request_id}/reject/": "a photo must be a picture; random bytes are refused",
    "POST /api/v1/after-sales/{request_id}/messages/": "a photo must be a picture; random bytes are refused",
    "POST /api/v1/merchant/products/{product_id}/photos/": "a photo must be a picture; random bytes are refused",
    "POST /api/v1/cart/items/": "the variant must exist and be on sale",
    "PATCH /api/v1/cart/items/{variant_id}/": "the variant must exist and be on sale",
    "POST /api/v1/checkout/": "the cart must hold items, in stock, at the prices the buyer saw",
    "POST /api/v1/merchant/products/": "a compare-at price must be above the price (two fields together)",
    "PATCH /api/v1/merchant/products/{product_id}/": "the category chosen must exist",
    "POST /api/v1/shares/": "exactly one of product_id and shop",
    "POST /api/v1/auth/token/": "the email and password must belong to an account",
}

ROLES = ["anonymous", "buyer", "merchant", "staff"]

SEED = 20261206
MAX_EXAMPLES = 5

# Ids of objects that exist in the current test's world, read when a case is drawn.
_KNOWN_IDS: dict[str, list[int | str]] = {}


def _load_schema():
    config = schemathesis.Config.from_dict({"seed": SEED, "generation": {"max-examples": MAX_EXAMPLES}})
    loaded = api_schema(config)
    loaded.app = get_wsgi_application()

    @loaded.hook
    def flatmap_path_parameters(context, path_parameters):
        # Half the cases address objects that exist (so state changes, not only 404s, are
        # exercised); the rest keep Schemathesis's own values.
        if not path_parameters:
            return st.just(path_parameters)
        known = {name: _known(name) for name in path_parameters if name in _KNOWN_IDS}
        fixed = {name: st.just(value) for name, value in path_parameters.items()}
        return st.one_of(st.just(path_parameters), st.fixed_dictionaries({**fixed, **known}))

    return loaded


def _known(name):
    return st.integers(min_value=0, max_value=99).map(
        lambda i: _KNOWN_IDS[name][i % len(_KNOWN_IDS[name])] if _KNOWN_IDS.get(name) else 0
    )


schema = _load_schema()


@pytest.fixture
def world(db, client) -> World:
    world = api_world(client)
    _KNOWN_IDS.clear()
    _KNOWN_IDS.update(world.path_ids())
    return world


@pytest.fixture
def wsgi_in_test_transaction():
    # A request through the WSGI handler closes the connection it finds in a transaction;
    # the test client disconnects the same signal for the same reason.
    request_started.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
# Examples of one item share its world on purpose (a write may meet an earlier one's state), so
# Hypothesis's function-scoped-fixture and generation health checks are silenced.
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_the_schema_says(case, role, world, wsgi_in_test_transaction):
    headers = {}
    if role != "anonymous":
        user = getattr(world, role)
        headers["Authorization"] = f"Token {Token.objects.get_or_create(user=user)[0].key}"
    excluded = set(FALSE_POSITIVES_WITH_A_TOKEN) if headers else set()
    if case.operation.label in RULES_BEYOND_THE_SCHEMA:
        excluded.add("positive_data_acceptance")
    case.call_and_validate(headers=headers, excluded_checks=[getattr(schemathesis.checks, n) for n in excluded])
