"""No 500 from any input: every HTML form on the site, fed NUL bytes, huge numbers and
wrong types, as each role that sees it.

The forms are not listed by hand: the test crawls the pages each role can reach from a
world with orders in every state (links followed inside the site), reads every <form>
on them, and submits each with bad values, one field at a time and all at once. A new
form on any reachable page is covered without touching this file.
"""

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client
from django.urls import resolve

from disputes import services as dispute_services
from orders import services as order_services
from referrals import services as referral_services
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import paid_sale, shipped_sale

pytestmark = pytest.mark.django_db

BAD_VALUES = [
    "\x00",
    "tea\x00leaf",
    "9" * 40,
    "-" + "9" * 40,
    "1e999",
    "NaN",
    "-1",
    "0x1f",
    "[]",
    '{"a": 1}',
    "",
    "字" * 20_000,
]
PER_FIELD_VALUES = ["\x00", "9" * 40, "-" + "9" * 40]
# Never followed: leaving the session, the Django admin's own model forms (Django's code),
# files, the API (its own tests) and share redirects that only set a cookie.
SKIP_PREFIXES = ("/accounts/logout/", "/admin/", "/media/", "/static/", "/api/", "/after-sales/evidence/")
MAX_PAGES_PER_ROLE = 70


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            self._form = {"method": (a.get("method") or "get").lower(), "action": a.get("action") or "", "fields": {}}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input" and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind == "file" or kind in ("submit", "button", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                self._form["fields"].setdefault(a["name"], None)
                return
            self._form["fields"][a["name"]] = a.get("value") or ("1" if kind == "number" else "")
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            self._form["fields"][a["name"]] = None
        elif tag == "option" and self._select and self._form["fields"].get(self._select) is None:
            self._form["fields"][self._select] = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self._form["fields"][a["name"]] = ""

    def handle_data(self, data):
        if self._textarea and self._form is not None:
            self._form["fields"][self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _local(base: str, href: str) -> str | None:
    url = urljoin(base, href)
    parts = urlsplit(url)
    if parts.netloc not in ("", "testserver") or parts.scheme not in ("", "http"):
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if path.startswith(SKIP_PREFIXES) and not path.startswith("/admin/login/"):
        return None
    return path


def _crawl(client: Client, starts: list[str]) -> dict[tuple[str, str], tuple[str, dict]]:
    """Every distinct form (by method and URL pattern) on the pages reachable from `starts`."""
    seen, queue, forms = set(), list(starts), {}
    while queue and len(seen) < MAX_PAGES_PER_ROLE:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        assert response.status_code < 500, url
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        page = _Page()
        page.feed(response.content.decode())
        for href in page.links:
            if (target := _local(url, href)) and target not in seen:
                queue.append(target)
        for form in page.forms:
            action = _local(url, form["action"] or url)
            if action is None:
                continue
            fields = {k: v for k, v in form["fields"].items() if k != "csrfmiddlewaretoken" and v is not None}
            # One form per URL pattern: the same form on six products is one form.
            path = urlsplit(action).path
            forms.setdefault((form["method"], resolve(path).route), (path, fields))
    return forms


def _submit(client: Client, method: str, action: str, data: dict):
    return client.get(action, data) if method == "get" else client.post(action, data)


def _world():
    """A shop with orders in every state a form depends on, and the people around it."""
    driver = Client()
    merchant = UserFactory()
    shop = make_shop(owner=merchant)
    buyer = UserFactory()
    staff = UserFactory(is_staff=True, is_superuser=True)
    make_product(shop=shop, title="Jasmine tea")
    paid_sale(driver, buyer=buyer, shop=shop)  # cancel, ship
    shipped_sale(driver, buyer=buyer, shop=shop)  # confirm receipt, open after-sales
    asked, _ = shipped_sale(driver, buyer=buyer, shop=shop)
    dispute_services.after_sales_open(
        buyer=buyer,
        line_id=asked.lines.get().pk,
        kind="refund_only",
        reason="damaged",
        description="The tin arrived crushed and open.",
        amount_minor=asked.total_minor,
    )
    disputed, _ = shipped_sale(driver, buyer=buyer, shop=shop)
    case = dispute_services.after_sales_open(
        buyer=buyer,
        line_id=disputed.lines.get().pk,
        kind="refund_only",
        reason="not_as_described",
        description="This is not the tea in the photos.",
        amount_minor=disputed.total_minor,
    )
    dispute_services.after_sales_reject(request_id=case.pk, merchant=merchant, note="It is exactly the tea shown.")
    dispute_services.after_sales_escalate(request_id=case.pk, user=buyer, note="Please look at both photos.")
    referral_services.share_create(promoter=buyer, product=asked.lines.get().product)
    product = make_product(shop=shop, title="Oolong")
    order_services.cart_add(cart=order_services.cart_for(user=buyer), variant_id=product.variants.get().pk, quantity=1)
    return {"anonymous": None, "buyer": buyer, "merchant": merchant, "staff": staff, "newcomer": UserFactory()}


STARTS = [
    "/",
    "/search/?q=tea",
    "/products/",
    "/cart/",
    "/checkout/",
    "/orders/",
    "/me/",
    "/after-sales/",
    "/promoter/",
    "/sell/open/",
    "/merchant/",
    "/merchant/shop/",
    "/merchant/products/new/",
    "/merchant/orders/",
    "/merchant/after-sales/",
    "/merchant/earnings/",
    "/staff/disputes/",
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password/reset/",
    "/admin/login/",
]


def test_every_html_form_answers_bad_input_without_a_500():
    # given a world with a form in every state, and each role's own client
    roles = _world()
    failures, submitted = [], 0
    for role, user in roles.items():
        client = Client(raise_request_exception=False)
        if user is not None:
            client.force_login(user)
        forms = _crawl(client, STARTS)
        # when every form the role can see is submitted with bad values
        for (method, _), (action, fields) in sorted(forms.items()):
            attempts = [dict.fromkeys(fields, bad) for bad in BAD_VALUES] if fields else []
            attempts += [{**fields, name: bad} for name in fields for bad in PER_FIELD_VALUES]
            # wrong type: every field twice, as a list
            attempts += [{name: ["1", "\x00"] for name in fields}] if fields else []
            for data in attempts:
                response = _submit(client, method, action, data)
                submitted += 1
                if response.status_code >= 500:
                    failures.append((role, method, action, {k: str(v)[:20] for k, v in data.items()}))
                if user is not None and "_auth_user_id" not in client.session:
                    client.force_login(user)
    # then nothing answered 500 (and the crawl did reach the forms)
    assert failures == []
    assert submitted > 400
