import io
import struct
import zlib

import pillow_heif
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from shops.models import ProductPhoto
from shops.tasks import product_photo_render_task
from tests.factories import make_product

pytestmark = pytest.mark.django_db


def _jpeg(size=(400, 200), exif=None) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, (200, 40, 40))
    # a marker pixel block in the top-left, to check orientation after transposing
    image.paste((0, 0, 255), (0, 0, 40, 40))
    image.save(out, "JPEG", exif=exif.tobytes() if exif is not None else b"")
    return out.getvalue()


def _phone_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    exif[0x010F] = "PhoneMaker"
    gps = {1: "N", 2: (30.0, 15.0, 0.0), 3: "E", 4: (120.0, 10.0, 0.0)}
    exif[0x8825] = gps
    return exif


def _bomb_png(width=30_000, height=30_000) -> bytes:
    """A tiny PNG whose header claims 900 megapixels."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


BAD_FILES = [
    ("bomb.png", _bomb_png(), "The picture is too large; the limit is 50 megapixels."),
    ("big-bomb.png", _bomb_png(9000, 7000), "The picture is too large (9000×7000 pixels); the limit is 50 megapixels."),
    (
        "polyglot.jpg",
        _jpeg() + b"<script>alert(document.cookie)</script>",
        "This file contains something other than a picture, so it was refused. Upload a plain photo.",
    ),
    (
        "zip-polyglot.jpg",
        _jpeg() + b"PK\x03\x04payload" + b"PK\x05\x06" + b"\x00" * 18,
        "This file contains something other than a picture, so it was refused. Upload a plain photo.",
    ),
    (
        "drawing.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
        "SVG files are not accepted. Upload a JPEG, PNG, WebP or HEIC photo.",
    ),
    (
        "notes.jpg",
        b"These are my shopping notes, not a picture.\n" * 20,
        "This file is not a picture we can read. Upload a JPEG, PNG, WebP or HEIC photo.",
    ),
    ("huge.jpg", b"\xff\xd8\xff" + b"\x00" * (30 * 1024 * 1024), "The file is too large (30 MB); the limit is 20 MB."),
    ("empty.jpg", b"", "The file is empty."),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES, ids=[f[0] for f in BAD_FILES])
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_uploads_are_refused_on_the_merchant_page(merchant_client, merchant, name, content, message, htmx):
    product = make_product(shop=merchant.shop)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = merchant_client.post(
        f"/merchant/products/{product.pk}/photos/",
        {"photos": SimpleUploadedFile(name, content, content_type="image/jpeg")},
        **headers,
    )
    assert response.status_code == 400
    assert f"{name}: {message}" in response.content.decode()
    assert not ProductPhoto.objects.exists()


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES, ids=[f[0] for f in BAD_FILES])
def test_bad_uploads_are_refused_by_the_api(api_client, merchant, name, content, message):
    product = make_product(shop=merchant.shop)
    api_client.force_authenticate(merchant)
    response = api_client.post(
        f"/api/v1/merchant/products/{product.pk}/photos/",
        {"file": SimpleUploadedFile(name, content, content_type="image/jpeg")},
        format="multipart",
    )
    assert response.status_code == 400
    if name == "empty.jpg":
        message = "The submitted file is empty."  # DRF's own check comes first
    body = response.json()["error"]
    assert message in body["message"] or message in " ".join(body.get("fields", {}).get("file", []))
    assert not ProductPhoto.objects.exists()


def test_a_phone_jpeg_is_stored_upright_with_no_metadata(merchant_client, merchant):
    # given a phone photo: 400×200 pixels, orientation 6 (display rotated), GPS position
    product = make_product(shop=merchant.shop)
    upload = SimpleUploadedFile("IMG_0001.jpg", _jpeg(exif=_phone_exif()), content_type="image/jpeg")

    # when the merchant uploads it and the worker renders it
    response = merchant_client.post(f"/merchant/products/{product.pk}/photos/", {"photos": upload})
    assert response.status_code == 200
    photo = ProductPhoto.objects.get()
    assert product_photo_render_task.apply(args=[photo.pk]).get() == "ready"
    photo.refresh_from_db()

    # then every stored file is upright (200 wide, 400 high) and carries no EXIF or GPS at all
    for field in (photo.original, photo.thumb, photo.card, photo.full):
        with field.open("rb") as fh:
            data = fh.read()
        stored = Image.open(io.BytesIO(data))
        assert not stored.getexif(), field.name
        assert "exif" not in stored.info
        assert b"PhoneMaker" not in data and b"GPS" not in data
        assert stored.height > stored.width
    with photo.original.open("rb") as fh:
        assert Image.open(fh).size == (200, 400)


def test_the_gps_check_can_fail():
    # control: the raw upload does carry GPS, so the test above would catch a pass-through
    raw = Image.open(io.BytesIO(_jpeg(exif=_phone_exif())))
    assert raw.getexif().get_ifd(0x8825)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "HEIF"])
def test_png_webp_and_heic_are_accepted_and_reencoded_as_jpeg(merchant_client, merchant, fmt):
    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    Image.new("RGBA" if fmt == "PNG" else "RGB", (300, 300), (10, 120, 200, 128)).save(out, fmt)
    product = make_product(shop=merchant.shop)
    response = merchant_client.post(
        f"/merchant/products/{product.pk}/photos/",
        {"photos": SimpleUploadedFile(f"photo.{fmt.lower()}", out.getvalue())},
    )
    assert response.status_code == 200
    photo = ProductPhoto.objects.get()
    with photo.original.open("rb") as fh:
        assert Image.open(fh).format == "JPEG"


def test_a_product_takes_at_most_20_photos(merchant_client, merchant):
    product = make_product(shop=merchant.shop)
    for i in range(20):
        upload = SimpleUploadedFile(f"p{i}.jpg", _jpeg(size=(64, 64)), content_type="image/jpeg")
        assert merchant_client.post(f"/merchant/products/{product.pk}/photos/", {"photos": upload}).status_code == 200
    upload = SimpleUploadedFile("p21.jpg", _jpeg(size=(64, 64)), content_type="image/jpeg")
    response = merchant_client.post(f"/merchant/products/{product.pk}/photos/", {"photos": upload})
    assert response.status_code == 400
    assert "A product can have at most 20 photos." in response.content.decode()
    assert ProductPhoto.objects.count() == 20


def test_a_real_worker_renders_uploaded_photos(merchant, celery_worker, django_capture_on_commit_callbacks):
    import time

    from shops import services

    product = make_product(shop=merchant.shop)
    upload = SimpleUploadedFile("a.jpg", _jpeg(), content_type="image/jpeg")
    photo = services.product_photo_add(product=product, upload=upload)
    for _ in range(120):
        photo.refresh_from_db()
        if photo.status == ProductPhoto.Status.READY:
            break
        time.sleep(0.25)
    assert photo.status == ProductPhoto.Status.READY, "the worker did not render the photo"
    assert photo.thumb and photo.card and photo.full
