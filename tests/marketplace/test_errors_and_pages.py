import json
import logging

import pytest
from django.test import Client, override_settings
from django.urls import path

from marketplace.logging import JsonFormatter

pytestmark = pytest.mark.django_db


def _boom(request):
    raise RuntimeError("kaboom")


urlpatterns = [path("boom/", _boom)]


def test_an_unknown_page_is_a_friendly_404(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "There is nothing here" in response.content.decode()


@override_settings(ROOT_URLCONF=__name__, DEBUG=False)
def test_a_server_error_is_logged_with_the_request_id_and_shows_a_kind_page(caplog):
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/boom/", HTTP_X_REQUEST_ID="req-500")
    assert response.status_code == 500
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records, "the error was not logged"
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["request_id"] == "req-500"
    assert "RuntimeError: kaboom" in line["exc_info"]


def test_home_page_is_phone_first_and_has_the_basics(client):
    body = client.get("/").content.decode()
    assert 'name="viewport" content="width=device-width, initial-scale=1' in body
    assert 'role="search"' in body
    assert 'aria-label="Cart"' in body
    assert 'class="bottomnav"' in body
    assert "htmx" in body


def test_every_form_on_the_signup_page_carries_a_csrf_token(client):
    body = client.get("/accounts/signup/").content.decode()
    forms = body.count("<form")
    assert forms >= 2  # the search form is GET; the signup form is POST
    assert body.count('name="csrfmiddlewaretoken"') == body.count('method="post"')


def test_pages_send_security_headers(client):
    response = client.get("/")
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
