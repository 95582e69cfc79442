import re

import pytest

from accounts.models import User
from tests.factories import make_product
from tests.helpers import is_home

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_visitor_signs_up_and_logs_in_on_a_phone(phone, mailoutbox):
    # given a marketplace with a product on the home page
    product = make_product(title="Jasmine green tea")

    # when a visitor opens the home page on a phone
    phone.goto("/")
    phone.shot("home")

    # then the product, the search box and the bottom navigation are there
    assert phone.get_by_text(product.title).first.is_visible()
    assert phone.get_by_role("search").is_visible()
    assert phone.get_by_role("navigation", name="Main").is_visible()
    # and the page fits the phone: no horizontal scrolling
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390

    # when they sign up
    phone.get_by_role("navigation", name="Main").get_by_role("link", name="Log in").click()
    phone.get_by_role("link", name="sign up").click()
    phone.get_by_label("Email:").fill("new.buyer@example.com")
    phone.get_by_label("Password:", exact=True).fill("a-long-pass-phrase-9")
    phone.get_by_label("Password (again):").fill("a-long-pass-phrase-9")
    phone.shot("signup")
    phone.get_by_role("button", name="Sign Up").click()

    # then they are asked to confirm their email, with an account waiting
    phone.get_by_role("heading", name="Verify Your Email Address").wait_for()
    assert User.objects.filter(email="new.buyer@example.com").exists()

    # when they follow the link in the email and confirm
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+)", mailoutbox[0].body).group(1)
    phone.goto(link)
    phone.get_by_role("button", name="Confirm").click()

    # then they are signed in
    phone.wait_for_url(lambda url: "/confirm-email/" not in url)
    phone.goto("/me/")
    assert phone.get_by_role("heading", name="Hello, new.buyer").is_visible()

    # when they log out and log in again
    phone.get_by_role("button", name="Log out").click()
    phone.wait_for_url(is_home)
    phone.goto("/accounts/login/")
    phone.get_by_label("Email:").fill("new.buyer@example.com")
    phone.get_by_label("Password:").fill("a-long-pass-phrase-9")
    phone.get_by_role("button", name="Sign In").click()
    phone.wait_for_url(is_home)
    phone.shot("logged-in")

    # then the header greets them by account and no script failed on the way
    phone.goto("/me/")
    assert phone.get_by_text("new.buyer@example.com").is_visible()
    assert phone.js_errors == []


def test_a_wrong_password_shows_a_clear_error(phone, user):
    phone.goto("/accounts/login/")
    phone.get_by_label("Email:").fill(user.email)
    phone.get_by_label("Password:").fill("not-the-password")
    phone.get_by_role("button", name="Sign In").click()
    phone.get_by_text("The email address and/or password you specified are not correct.").wait_for()
    phone.shot("wrong-password")
    assert phone.url.endswith("/accounts/login/")
