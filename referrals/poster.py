"""The share poster: a phone-feed-sized image with the product, the QR code and the disclosure."""

import io

import segno
from PIL import Image, ImageDraw, ImageOps

from marketplace.money import money_format

WIDTH, HEIGHT = 1080, 1620
DISCLOSURE = "I earn a commission if you buy through this code."


def qr_png(url: str, scale: int = 10) -> Image.Image:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=scale, border=2)
    out.seek(0)
    return Image.open(out).convert("RGB")


def qr_svg(url: str) -> bytes:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=8, border=2, xmldecl=False, svgns=True)
    return out.getvalue()


def poster_render(*, url: str, title: str, price_minor: int, shop_name: str, promoter_name: str, photo=None) -> bytes:
    """A JPEG poster. `photo` is an open file of the product's card/full rendition, or None."""
    poster = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(poster)
    if photo is not None:
        picture = ImageOps.fit(Image.open(photo).convert("RGB"), (WIDTH, WIDTH))
        poster.paste(picture, (0, 0))
    else:
        draw.rectangle((0, 0, WIDTH, WIDTH), fill=(236, 236, 239))
    draw.text((60, WIDTH + 40), title[:60], fill=(29, 29, 31), font_size=56)
    draw.text((60, WIDTH + 120), money_format(price_minor), fill=(217, 54, 62), font_size=64)
    draw.text((60, WIDTH + 210), f"from {shop_name[:40]}", fill=(107, 107, 112), font_size=40)
    draw.text((60, WIDTH + 280), f"Shared by {promoter_name[:40]}", fill=(29, 29, 31), font_size=40)
    draw.text((60, HEIGHT - 90), DISCLOSURE, fill=(107, 107, 112), font_size=32)
    code = qr_png(url, scale=9).resize((300, 300))
    poster.paste(code, (WIDTH - 360, WIDTH + 40))
    out = io.BytesIO()
    poster.save(out, "JPEG", quality=88)
    return out.getvalue()
