import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.factories import make_shop

pytestmark = pytest.mark.django_db

SIGNUP = "/accounts/signup/"
LOGIN = "/accounts/login/"


def test_signup_creates_an_email_login_account_confirmed_by_email(client, mailoutbox):
    # when a visitor signs up
    response = client.post(
        SIGNUP, {"email": "Ana@Example.com", "password1": "a-long-pass-phrase-9", "password2": "a-long-pass-phrase-9"}
    )
    # then the account exists, is not logged in yet, and a confirmation link is mailed
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    user = User.objects.get()
    assert user.email == "ana@example.com"  # allauth stores emails lower-cased
    assert user.check_password("a-long-pass-phrase-9")
    assert "_auth_user_id" not in client.session
    assert len(mailoutbox) == 1
    link = re.search(r"http://testserver(/accounts/confirm-email/\S+)", mailoutbox[0].body).group(1)
    # when the link is followed and confirmed
    client.get(link)
    response = client.post(link)
    # then the visitor is logged in
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_signup_with_a_taken_email_answers_as_for_a_new_one_and_creates_nothing(client, user, mailoutbox):
    # given an account with this email (in other letter case)
    response = client.post(
        SIGNUP, {"email": user.email.upper(), "password1": "a-long-pass-phrase-9", "password2": "a-long-pass-phrase-9"}
    )
    # then the answer is the one a new address gets: nothing tells the visitor it is taken
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert "_auth_user_id" not in client.session
    assert User.objects.count() == 1
    # and only the address's owner learns of the attempt, by email
    assert len(mailoutbox) == 1
    assert [to.lower() for to in mailoutbox[0].to] == [user.email]
    assert "/accounts/confirm-email/" not in mailoutbox[0].body


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "This password is too short. It must contain at least 8 characters."),
        ("12345678901", "This password is entirely numeric."),
        ("password123", "This password is too common."),
    ],
)
def test_signup_with_a_bad_password_explains_why(client, password, message):
    response = client.post(SIGNUP, {"email": "new@example.com", "password1": password, "password2": password})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.exists()


def test_signup_with_mismatched_passwords_is_refused(client):
    response = client.post(
        SIGNUP, {"email": "new@example.com", "password1": "a-long-pass-phrase-9", "password2": "another-pass-phrase-9"}
    )
    assert response.status_code == 200
    assert "You must type the same password each time." in response.content.decode()
    assert not User.objects.exists()


def test_a_post_without_a_valid_csrf_token_gets_a_clear_403(user, password):
    client = Client(enforce_csrf_checks=True)
    response = client.post(LOGIN, {"login": user.email, "password": password, "csrfmiddlewaretoken": "forged"})
    assert response.status_code == 403
    body = response.content.decode()
    assert "The form expired" in body
    assert "reload the page and try again" in body
    assert "_auth_user_id" not in client.session


def test_login_by_email_with_the_right_password(client, user, password):
    response = client.post(LOGIN, {"login": user.email, "password": password})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_repeated_failed_logins_are_locked_out_with_429(client, user, password):
    # given five failed attempts on one account (settings: 5 per 5 minutes per account)
    for _ in range(5):
        response = client.post(LOGIN, {"login": user.email, "password": "wrong-password"})
        assert response.status_code == 200
    # when the next attempt comes, even with the right password
    response = client.post(LOGIN, {"login": user.email, "password": password})
    # then it is refused with a message, and nobody is logged in
    assert response.status_code == 429
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_roles_come_from_data(user):
    assert user.is_promoter and not user.is_merchant and not user.is_staff
    make_shop(owner=user)
    user.refresh_from_db()
    assert User.objects.get(pk=user.pk).is_merchant


def test_public_name_never_shows_the_full_email(user):
    user.display_name = ""
    assert user.public_name == user.email.split("@")[0]
    assert "@" not in user.public_name


def test_account_page_needs_login(client):
    response = client.get(reverse("account"))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_password_reset_sends_an_email(client, user, mailoutbox):
    response = client.post("/accounts/password/reset/", {"email": user.email})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    assert "/accounts/password/reset/key/" in mailoutbox[0].body
