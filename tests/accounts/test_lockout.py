"""One credential lock across the login page, the token endpoint and the admin login."""

import ipaddress

import pytest
from django.test import RequestFactory
from rest_framework.authtoken.models import Token

from marketplace.clientip import client_ip
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
TOKEN = "/api/v1/auth/token/"
ADMIN_LOGIN = "/admin/login/"
# settings: LOGIN_FAILED_RATE_LIMIT = "10/m/ip,5/5m/key"
PER_ACCOUNT = 5
PER_IP = 10


def _token(api_client, email, password, **headers):
    return api_client.post(TOKEN, {"email": email, "password": password}, format="json", headers=headers)


def test_forged_forwarded_for_values_do_not_escape_the_account_lock(api_client, user, password):
    # given wrong passwords, each with a made-up X-Forwarded-For
    answers = [
        _token(api_client, user.email, "wrong-password", x_forwarded_for=f"10.0.{i}.1").status_code for i in range(40)
    ]
    # then the account is locked after the threshold
    assert answers[:PER_ACCOUNT] == [400] * PER_ACCOUNT
    assert set(answers[PER_ACCOUNT:]) == {429}
    # and the right password gets no token while the lock holds
    response = _token(api_client, user.email, password, x_forwarded_for="10.9.9.9")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 300
    assert response.json()["error"]["code"] == "throttled"
    assert "Too many failed login attempts" in response.json()["error"]["message"]
    assert not Token.objects.exists()


def test_forged_forwarded_for_values_do_not_escape_the_ip_lock(api_client):
    # given one client trying many accounts, each request claiming another origin
    answers = [
        _token(api_client, f"nobody{i}@example.com", "wrong-password", x_forwarded_for=f"10.1.{i}.1").status_code
        for i in range(40)
    ]
    # then its address is locked after the per-IP threshold
    assert answers[:PER_IP] == [400] * PER_IP
    assert set(answers[PER_IP:]) == {429}


def test_the_admin_login_locks(client, password):
    # given a staff account and five wrong passwords on the admin login
    staff = UserFactory(is_staff=True, is_superuser=True)
    for _ in range(PER_ACCOUNT):
        response = client.post(ADMIN_LOGIN, {"username": staff.email, "password": "wrong-password"})
        assert response.status_code == 200
    # when the right password comes
    response = client.post(ADMIN_LOGIN, {"username": staff.email, "password": password, "next": "/admin/"})
    # then it is refused with when to retry, and nobody is logged in
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 300
    assert "Too many failed login attempts. Try again in" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_admin_login_still_works_below_the_threshold(client, password):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.post(ADMIN_LOGIN, {"username": staff.email, "password": "wrong-password"})
    response = client.post(ADMIN_LOGIN, {"username": staff.email, "password": password, "next": "/admin/"})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)


def test_a_lock_from_the_page_blocks_the_token_endpoint(client, api_client, user, password):
    # given the account locked through the login page
    for _ in range(PER_ACCOUNT):
        assert client.post(LOGIN, {"login": user.email, "password": "wrong-password"}).status_code == 200
    locked = client.post(LOGIN, {"login": user.email, "password": password})
    assert locked.status_code == 429
    assert 0 < int(locked["Retry-After"]) <= 300
    # when the API is asked for a token with the right password (another client, same lock)
    response = _token(api_client, user.email, password)
    # then no token
    assert response.status_code == 429
    assert not Token.objects.exists()


def test_a_lock_from_the_token_endpoint_blocks_the_page_and_the_admin(client, api_client, user, password):
    # given the account locked through the API (failures counted there)
    for _ in range(PER_ACCOUNT):
        assert _token(api_client, user.email, "wrong-password").status_code == 400
    # then the page refuses the right password
    response = client.post(LOGIN, {"login": user.email.upper(), "password": password})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # and so does the admin login
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    assert client.post(ADMIN_LOGIN, {"username": user.email, "password": password}).status_code == 429
    assert "_auth_user_id" not in client.session


def test_failures_on_the_page_and_the_api_add_up(client, api_client, user, password):
    # given three failures on the page and two on the API
    for _ in range(3):
        client.post(LOGIN, {"login": user.email, "password": "wrong-password"})
    for _ in range(2):
        _token(api_client, user.email, "wrong-password")
    # then the admin login, the third door, is already locked
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    assert client.post(ADMIN_LOGIN, {"username": user.email, "password": password}).status_code == 429


def _fail_from(api_client, forwarded_for: str, count: int) -> list[int]:
    return [
        _token(
            api_client, f"n{forwarded_for}-{i}@example.com", "wrong-password", x_forwarded_for=forwarded_for
        ).status_code
        for i in range(count)
    ]


def test_behind_the_configured_proxy_two_clients_are_counted_apart(api_client, settings):
    # given one trusted proxy in front, and a first client that locked its own address
    settings.TRUSTED_PROXY_COUNT = 1
    assert _fail_from(api_client, "203.0.113.7", PER_IP + 1)[-1] == 429
    # when a second client comes through the same proxy
    answers = _fail_from(api_client, "198.51.100.4", 1)
    # then it is not locked by the first one's failures
    assert answers == [400]


def test_without_a_proxy_setting_forwarded_headers_are_ignored(api_client, settings):
    # control for the test above: with no trusted proxy both "clients" are the peer address
    settings.TRUSTED_PROXY_COUNT = 0
    assert _fail_from(api_client, "203.0.113.7", PER_IP)[-1] == 400
    assert _fail_from(api_client, "198.51.100.4", 1) == [429]


@pytest.mark.parametrize(
    ("count", "networks", "forwarded", "expected"),
    [
        (0, [], "203.0.113.7", "10.0.0.2"),
        (1, [], "203.0.113.7", "203.0.113.7"),
        (1, [], "6.6.6.6, 203.0.113.7", "203.0.113.7"),
        (2, [], "6.6.6.6, 203.0.113.7, 10.0.0.1", "203.0.113.7"),
        (2, [], "203.0.113.7", "10.0.0.2"),
        (1, [], "not-an-ip", "10.0.0.2"),
        (0, ["10.0.0.0/8"], "6.6.6.6, 203.0.113.7, 10.0.0.1", "203.0.113.7"),
        (0, ["192.168.0.0/16"], "203.0.113.7", "10.0.0.2"),
    ],
)
def test_client_ip_trusts_only_the_configured_proxies(settings, count, networks, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = count
    settings.TRUSTED_PROXIES = [ipaddress.ip_network(n) for n in networks]
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
