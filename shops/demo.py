"""Demo data for `make run`: shops, categories, products with generated photos, people."""

import io
import random

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from PIL import Image, ImageDraw

from accounts.models import User
from accounts.services import user_email_mark_verified
from shops import services
from shops.models import Category, Product

DEMO_PASSWORD = "circle-demo-2026"  # noqa: S105 - demo accounts; printed by make run
LOGINS = {
    "admin": "admin@demo.circle.market",
    "buyer": "buyer@demo.circle.market",
    "promoter": "promoter@demo.circle.market",
    "merchant": "tea@demo.circle.market",
}

CATEGORIES = {
    "Food & drink": ["Tea", "Snacks"],
    "Fashion": ["Clothing", "Accessories"],
    "Home": ["Kitchen", "Decor"],
}

SHOPS = [
    (
        "tea@demo.circle.market",
        "Misty Peak Tea",
        "Small-batch teas from our family garden in Fujian.",
        [
            ("Tea", "Oolong tea, 100 g tin", 6800, 1200, 40, ["Standard"]),
            ("Tea", "Jasmine green tea, 50 g", 3900, 1000, 60, ["Standard"]),
            ("Tea", "White peony tea cake, 357 g", 16800, 800, 8, ["Standard"]),
            ("Snacks", "Sesame crisps, hand-made", 2200, 1500, 100, ["Original", "Spicy"]),
            ("Kitchen", "Celadon tea cup set", 12800, 1000, 3, ["Two cups", "Four cups"]),
        ],
    ),
    (
        "linen@demo.circle.market",
        "Linen & Loom",
        "Linen clothes cut and sewn in our studio.",
        [
            ("Clothing", "Linen T-shirt", 8900, 1500, 25, ["S", "M", "L"]),
            ("Clothing", "Wide-leg linen trousers", 15900, 1200, 12, ["S", "M", "L"]),
            ("Accessories", "Canvas tote bag", 4500, 2000, 50, ["Natural", "Indigo"]),
            ("Accessories", "Silk scrunchie, set of 3", 2900, 2500, 0, ["Standard"]),
        ],
    ),
    (
        "clay@demo.circle.market",
        "Clay Corner",
        "Pottery for every day, fired in a wood kiln.",
        [
            ("Decor", "Hand-thrown vase", 19900, 1000, 5, ["Small", "Large"]),
            ("Kitchen", "Rice bowl, ash glaze", 5800, 1200, 30, ["Standard"]),
            ("Kitchen", "Wooden chopsticks, 5 pairs", 3200, 1800, 80, ["Standard"]),
            ("Decor", "Incense holder", 3600, 1500, 18, ["Standard"]),
        ],
    ),
]

PALETTE = [(196, 72, 62), (64, 120, 92), (70, 96, 160), (210, 160, 60), (120, 80, 140), (90, 90, 90)]


def demo_photo(title: str, seed: int, size: tuple[int, int] = (1200, 1200)) -> SimpleUploadedFile:
    """A generated product photo: a coloured scene with the title, saved as a phone would."""
    rng = random.Random(seed)
    base = PALETTE[seed % len(PALETTE)]
    image = Image.new("RGB", size, base)
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        r = rng.randrange(60, 260)
        tint = tuple(min(255, c + rng.randrange(20, 90)) for c in base)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tint)
    draw.rectangle((0, size[1] - 220, size[0], size[1]), fill=(255, 255, 255))
    draw.text((60, size[1] - 170), title, fill=(30, 30, 30), font_size=72)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return SimpleUploadedFile(f"demo-{seed}.jpg", out.getvalue(), content_type="image/jpeg")


def _user(email: str, name: str, **extra) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=DEMO_PASSWORD, display_name=name, **extra)
        user_email_mark_verified(user=user)
    return user


@transaction.atomic
def demo_load() -> bool:
    """Create the demo world once. Returns False when it already exists."""
    if User.objects.filter(email=LOGINS["admin"]).exists():
        return False
    _user(LOGINS["admin"], "Admin", is_staff=True, is_superuser=True)
    _user(LOGINS["buyer"], "Bea Buyer")
    _user(LOGINS["promoter"], "Pat Promoter")
    categories: dict[str, Category] = {}
    for position, (parent_name, children) in enumerate(CATEGORIES.items()):
        parent = services.category_create(name=parent_name)
        parent.position = position
        parent.save(update_fields=["position"])
        for child in children:
            categories[child] = services.category_create(name=child, parent=parent)
    seed = 0
    for shop_index, (email, shop_name, description, products) in enumerate(SHOPS):
        owner = _user(email, shop_name.split()[0] + " owner")
        shop = services.shop_open(
            owner=owner,
            name=shop_name,
            description=description,
            return_policy="7-day no-reason return on eligible items; we pay return shipping for damaged goods.",
            shipping_regions="Mainland China",
            shipping_fee_minor=800 if shop_index else 0,
            logo=demo_photo(shop_name[:2], 100 + shop_index, (400, 400)),
        )
        if shop_index == 0:
            services.shop_verify(shop_id=shop.pk)
        for category, title, price, bps, stock, variant_names in products:
            seed += 1
            product = services.product_create(
                shop=shop,
                title=title,
                description=f"{title}. {description}",
                category=categories[category],
                price_minor=price,
                commission_bps=bps,
                stock=stock,
                is_no_reason_return=category not in ("Snacks", "Tea"),
                sku=f"S{shop_index}-{seed}",
            )
            for extra_index, name in enumerate(variant_names[1:], start=1):
                services.variant_create(
                    product=product,
                    name=name,
                    sku=f"S{shop_index}-{seed}-{extra_index}",
                    price_minor=price + 1000 * extra_index,
                    stock=stock,
                )
            if len(variant_names) > 1:
                first = product.variants.order_by("position", "id").first()
                services.variant_update(variant=first, name=variant_names[0])
            for photo_index in range(2):
                services.product_photo_add(product=product, upload=demo_photo(title, seed * 10 + photo_index))
            services.product_set_status(product=product, status=Product.Status.ACTIVE)
            if seed % 4 == 1:
                Product.objects.filter(pk=product.pk).update(is_featured=True)
    return True
