import os
import shutil

import pytest
import redis
from django.conf import settings

from payments import stripe_client
from tests.factories import PASSWORD, UserFactory, make_shop
from tests.helpers import StripeFake


@pytest.fixture(autouse=True)
def _clean_redis():
    """Tests own one Redis database (15, or TEST_REDIS_DB; see settings.TESTING): start each test with it empty."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield
    client.close()


@pytest.fixture(autouse=True, scope="session")
def _clean_media():
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
    yield


@pytest.fixture
def stripe_fake():
    """The one Stripe fake: the local Stripe installed at payments.stripe_client, keeping
    every call (tests.helpers.StripeFake) for the test to read."""
    fake = StripeFake()
    stripe_client.http_client_set(fake)
    yield fake
    stripe_client.http_client_set(None)


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def merchant(db):
    shop = make_shop()
    return shop.owner


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def merchant_client(client, merchant):
    client.force_login(merchant)
    return client


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker (solo pool, in a thread) consuming the real broker (Redis)."""
    from celery.contrib.testing.worker import start_worker

    from marketplace.celery import app

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker


def pytest_collection_modifyitems(config, items):
    """Browser tests need Debian's Chromium. Without it they skip on a developer's machine
    and fail where REQUIRE_BROWSER is set (CI installs the browser and sets it)."""
    if os.path.exists(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")):
        return
    if os.environ.get("REQUIRE_BROWSER"):
        raise pytest.UsageError("REQUIRE_BROWSER is set but /usr/bin/chromium is missing (apt-get install chromium).")
    skip = pytest.mark.skip(reason="Debian's chromium is not installed (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)
