import itertools

import factory

from accounts.models import User
from accounts.services import user_email_mark_verified
from shops import services
from shops.models import Category, Product, Shop

_seq = itertools.count(1)
PASSWORD = "a-long-test-password-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    display_name = factory.Sequence(lambda n: f"User {n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()
            # Sign-up confirms the email before the first login; these accounts skip it.
            user_email_mark_verified(user=obj)


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


def make_shop(*, owner: User | None = None, name: str | None = None, **fields) -> Shop:
    n = next(_seq)
    return services.shop_open(owner=owner or UserFactory(), name=name or f"Shop {n}", **fields)


def make_product(
    *, shop: Shop | None = None, title: str | None = None, price_minor: int = 1000, stock: int = 10,
    commission_bps: int = 1000, status: str = Product.Status.ACTIVE, **fields,
) -> Product:  # fmt: skip
    product = services.product_create(
        shop=shop or make_shop(),
        title=title or f"Product {next(_seq)}",
        price_minor=price_minor,
        stock=stock,
        commission_bps=commission_bps,
        **fields,
    )
    if status != Product.Status.DRAFT:
        product = services.product_set_status(product=product, status=status)
    return product
