import json

import pytest
import redis
from django.urls import reverse

from marketplace.tasks import ping_task
from tests.factories import UserFactory


@pytest.mark.django_db
def test_healthz_reports_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


@pytest.mark.django_db
def test_healthz_is_503_when_redis_is_down(client, settings):
    # given a Redis URL where nothing listens (port 1 is never a Redis)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "redis": "error"}


def test_a_task_sent_from_a_web_request_is_run_by_a_real_worker(client, celery_worker):
    # given a real worker consuming the Redis broker, and a staff member
    client.force_login(UserFactory(is_staff=True))
    # when the web process asks for a worker round trip
    response = client.get("/healthz?worker=1")
    # then the worker answered
    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"]["worker"] == "ok"
    assert body["checks"]["worker_answered_at"]


@pytest.mark.django_db
@pytest.mark.parametrize("staff", [None, False])
def test_the_worker_check_is_for_staff_only_and_queues_nothing_for_others(client, settings, staff):
    # given an anonymous visitor or a signed-in customer
    if staff is not None:
        client.force_login(UserFactory(is_staff=staff))
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    # when they ask for the worker round trip
    response = client.get("/healthz?worker=1")
    # then they are refused at once and no task waits on the broker
    assert response.status_code == 403
    assert "staff" in response.json()["message"]
    assert broker.llen("celery") == 0
    # while the plain check stays public
    assert client.get("/healthz").status_code == 200


def test_ping_task_runs_on_the_real_app():
    result = ping_task.apply(args=["hello"]).get()
    assert result["pong"] is True
    assert result["note"] == "hello"


@pytest.mark.django_db
def test_baseline_view_is_trivial(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get(reverse("baseline"))
    assert response.content == b"ok"


@pytest.mark.django_db
def test_every_response_carries_a_request_id(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    generated = client.get("/healthz")["X-Request-ID"]
    assert len(generated) == 32


@pytest.mark.django_db
def test_a_forged_request_id_is_replaced(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="x" * 500)
    assert response["X-Request-ID"] != "x" * 500


def test_log_lines_are_json_with_the_request_id():
    import logging

    from marketplace.logging import JsonFormatter, RequestIdFilter, request_id_var

    token = request_id_var.set("rid-42")
    try:
        record = logging.makeLogRecord(
            {"name": "x", "levelname": "ERROR", "msg": "boom %s", "args": (1,), "order_id": 7}
        )
        RequestIdFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "boom 1"
    assert line["request_id"] == "rid-42"
    assert line["order_id"] == 7
    assert line["level"] == "ERROR"
