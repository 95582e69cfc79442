"""The demo data's one entry point (`manage.py seed_demo`, `make run`): each app's loader,
lowest layer first. Running it again changes nothing."""

from disputes.demo import demo_cases_load
from orders.demo import demo_orders_load
from reviews.demo import demo_reviews_load
from shops.demo import DEMO_PASSWORD, LOGINS, demo_load

__all__ = ["DEMO_PASSWORD", "LOGINS", "demo_all_load"]


def demo_all_load() -> bool:
    """Shops and people, then orders, then after-sales cases, then reviews. True if the shops were new."""
    created = demo_load()
    demo_orders_load()
    demo_cases_load()
    demo_reviews_load()
    return created
