import pytest

from orders.models import CartItem
from shops import services
from tests.factories import CategoryFactory, make_product

pytestmark = pytest.mark.django_db


def _titles(response) -> list[str]:
    return [p.title for p in response.context["page"].object_list]


@pytest.mark.parametrize("query", ["headphnes", "bluetoth", "BLUETOOTH headphones", "wireless"])
def test_search_finds_a_product_despite_typos(client, query):
    make_product(title="Bluetooth headphones", description="Wireless, with a long battery life.")
    make_product(title="Jasmine tea")
    response = client.get("/search/", {"q": query})
    assert _titles(response) == ["Bluetooth headphones"]


def test_search_api_finds_a_misspelt_title(api_client):
    make_product(title="Bluetooth headphones")
    response = api_client.get("/api/v1/products/search/", {"q": "headphnes"})
    assert [p["title"] for p in response.json()["results"]] == ["Bluetooth headphones"]


def test_search_filters_by_price_and_category(client):
    tea = CategoryFactory(name="Tea")
    make_product(title="Green tea cheap", price_minor=1000, category=tea)
    make_product(title="Green tea dear", price_minor=9000, category=tea)
    make_product(title="Green tea cup", price_minor=1000)
    response = client.get("/search/", {"q": "green tea", "max_price": "50", "category": tea.slug})
    assert _titles(response) == ["Green tea cheap"]


def test_a_bad_price_filter_is_explained_not_a_500(client):
    make_product(title="Green tea")
    response = client.get("/search/", {"q": "tea", "min_price": "ten"})
    assert response.status_code == 200
    assert "Minimum price: &#x27;ten&#x27; is not an amount." in response.content.decode()
    assert _titles(response) == ["Green tea"]


def test_a_suspended_shops_products_leave_browse_and_cannot_be_bought(client, api_client):
    # given a product of a shop that gets suspended
    product = make_product(title="Oolong tea")
    services.shop_suspend(shop_id=product.shop_id, reason="Counterfeit goods reported.")

    # then it is nowhere in browse or search, page or API
    assert "Oolong tea" not in client.get("/").content.decode()
    assert _titles(client.get("/products/")) == []
    assert _titles(client.get("/search/", {"q": "oolong"})) == []
    assert api_client.get("/api/v1/products/").json()["results"] == []
    # and its page says it cannot be bought
    page = client.get(product.get_absolute_url()).content.decode()
    assert "This shop is suspended; its products cannot be bought." in page
    assert "Counterfeit goods reported." in client.get(f"/s/{product.shop.slug}/").content.decode()
    # and adding it to the cart is refused with a message, the cart stays empty
    response = client.post("/cart/add/", {"variant": product.variants.get().pk, "quantity": 1}, follow=True)
    assert "This item cannot be bought right now." in response.content.decode()
    assert not CartItem.objects.exists()

    # when the shop is reinstated, it is back
    services.shop_reinstate(shop_id=product.shop_id)
    assert _titles(client.get("/products/")) == ["Oolong tea"]
