from django.shortcuts import render
from django.views.decorators.http import require_GET

from shops.selectors import product_get_public


@require_GET
def share_product(request, product_id: int):
    """What to share for a product. Tracked links, QR codes and posters come with the
    referrals issue; until then this shares the plain product link with the disclosure."""
    product = product_get_public(product_id=product_id)
    url = request.build_absolute_uri(product.get_absolute_url())
    text = f"{product.title} — {url} (I may earn a commission if you buy through this link.)"
    return render(request, "referrals/share.html", {"product": product, "url": url, "share_text": text})
