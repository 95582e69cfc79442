"""Catalog benchmarks: P1 (listing page and API vs the trivial view), P2 (query counts),
P6 (photo pipeline vs pyvips, peak memory).

Server: gunicorn, 2 gthread workers × 1 thread, DEBUG off, the same for every endpoint.
Load: 2 client processes with keep-alive connections, each endpoint measured in 3 rounds
interleaved with the baseline; the median ratio is reported. Client and server share the
machine's 2 cores, which caps the baseline more than the heavier pages, so the ratios
are, if anything, flattering by a little; they are comparable run to run.
"""

import http.client
import io
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from bench.common import ROOT, database_recreate, db_config, django_setup, figure

DB_NAME = "circle_bench_catalog"
WORKERS = 2
CLIENTS = 2
SECONDS = float(os.environ.get("BENCH_P1_SECONDS", "4"))
ROUNDS = 3


# --- Data ---------------------------------------------------------------------------------


def _seed(products: int = 120) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts.models import User
    from shops import services
    from shops.demo import demo_photo

    shops = [
        services.shop_open(owner=User.objects.create_user(email=f"s{i}@bench.local"), name=f"Shop {i}")
        for i in range(6)
    ]
    for i in range(products):
        product = services.product_create(
            shop=shops[i % len(shops)], title=f"Green tea number {i}", price_minor=1000 + 37 * i, commission_bps=1000,
            stock=50, description="Small-batch tea from the hills.",
        )  # fmt: skip
        upload = demo_photo(product.title, i, (800, 800))
        photo = services.product_photo_add(product=product, upload=SimpleUploadedFile("p.jpg", upload.read()))
        services.product_photo_render(photo_id=photo.pk)
        services.product_set_status(product=product, status="active")


# --- HTTP load ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client_loop(args) -> int:
    port, path, seconds = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    done, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        conn.request("GET", path, headers={"Host": "127.0.0.1"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"{path} answered {response.status}")
        done += 1
    conn.close()
    return done


def _worker_cpu(master_pid: int) -> float:
    """utime + stime (seconds) of the gunicorn worker processes."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid:  # ppid
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _measure(pool, port: int, master_pid: int, path: str) -> tuple[float, float]:
    """(requests per second, server CPU seconds per request) over SECONDS."""
    cpu_before = _worker_cpu(master_pid)
    start = time.perf_counter()
    done = sum(pool.map(_client_loop, [(port, path, SECONDS)] * CLIENTS))
    elapsed = time.perf_counter() - start
    return done / elapsed, (_worker_cpu(master_pid) - cpu_before) / done


def run_p1(url: str) -> None:
    port = _free_port()
    env = dict(
        os.environ, DATABASE_URL=url, DEBUG="false", ALLOWED_HOSTS="127.0.0.1", PORT=str(port),
        WEB_CONCURRENCY=str(WORKERS), GUNICORN_THREADS="1", SERVE_MEDIA="true", GUNICORN_MAX_REQUESTS="0",
    )  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "marketplace/gunicorn.conf.py", "marketplace.wsgi",
         "--access-logfile", "/dev/null", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    endpoints = {"baseline": "/bench/baseline", "P1": "/products/?page_size=20", "P1-API": "/api/v1/products/"}
    try:
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/bench/baseline")
                break
            except OSError:
                time.sleep(0.2)
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(CLIENTS) as pool:
            for path in endpoints.values():  # warm-up: templates, connections, caches
                pool.map(_client_loop, [(port, path, 1.0)] * CLIENTS)
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in endpoints}
            for _ in range(ROUNDS):
                for name, path in endpoints.items():
                    results[name].append(_measure(pool, port, server.pid, path))
    finally:
        server.terminate()
        server.wait(timeout=20)
    base_rps = [r for r, _ in results["baseline"]]
    base_cpu = [c for _, c in results["baseline"]]
    for name in ("P1", "P1-API"):
        rps = [r for r, _ in results[name]]
        cpu = [c for _, c in results[name]]
        print(f"{name} raw: {statistics.median(rps):.0f} req/s, {statistics.median(cpu) * 1000:.2f} ms CPU/req; "
              f"baseline {statistics.median(base_rps):.0f} req/s, {statistics.median(base_cpu) * 1000:.2f} ms CPU/req",
              flush=True)  # fmt: skip
    ratio = statistics.median(r / b for (r, _), (b, _) in zip(results["P1"], results["baseline"], strict=True))
    figure("P1", ratio, "ratio", ">=", 0.30)
    ratio = statistics.median(r / b for (r, _), (b, _) in zip(results["P1-API"], results["baseline"], strict=True))
    figure("P1-API", ratio, "ratio", ">=", 0.25)
    cpu_ratio = statistics.median(c / b for (_, c), (_, b) in zip(results["P1"], results["baseline"], strict=True))
    figure("P1-CPU", cpu_ratio, "ratio", "<=", 3.5)


# --- P2 -----------------------------------------------------------------------------------


def run_p2() -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from shops import services
    from shops.models import Product

    client = Client()

    def count(path: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path)
        assert response.status_code == 200, path
        return len(ctx.captured_queries)

    product_sizes = {}
    base = Product.objects.order_by("pk").first()
    for size in (1, 20, 100):
        product = services.product_create(
            shop=base.shop, title=f"Sized {size}", price_minor=999, commission_bps=1000, stock=1
        )
        services.product_set_status(product=product, status="active")
        for i in range(size - 1):
            services.variant_create(product=product, name=f"V{i}", sku=f"Z{size}-{i}", price_minor=999 + i, stock=1)
        product_sizes[size] = product.get_absolute_url()
    kinds = {
        "P2-list": ({s: f"/products/?page_size={s}" for s in (1, 20, 100)}, 3),
        "P2-search": ({s: f"/search/?q=green+tea&page_size={s}" for s in (1, 20, 100)}, 3),
        "P2-product": (product_sizes, 5),
    }
    for fid, (paths, limit) in kinds.items():
        counts = {size: count(path) for size, path in paths.items()}
        print(f"{fid} raw: queries at sizes 1/20/100 = {counts[1]}/{counts[20]}/{counts[100]}", flush=True)
        if len(set(counts.values())) != 1:
            print(f"{fid} FAILED: query count depends on page size", flush=True)
        figure(fid, max(counts.values()), "queries", "<=", limit)


# --- P6 -----------------------------------------------------------------------------------


def _phone_jpeg(seed: int) -> bytes:
    """A 12-megapixel (4000×3000) JPEG with photo-like detail and an EXIF orientation."""
    from PIL import Image

    noise = Image.effect_noise((4000, 3000), 40).convert("L")
    gradient = Image.linear_gradient("L").resize((4000, 3000))
    image = Image.merge("RGB", (noise, gradient, Image.effect_mandelbrot((4000, 3000), (-2, -1.2, 1, 1.2), 40 + seed)))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def _pipeline_ours(data: bytes) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from shops.images import image_intake, image_renditions

    image_renditions(image_intake(SimpleUploadedFile("p.jpg", data)).content)


def _pipeline_vips(data: bytes) -> None:
    import pyvips

    from shops.images import JPEG_QUALITY, ORIGINAL_MAX_SIDE, RENDITIONS

    original = pyvips.Image.thumbnail_buffer(data, ORIGINAL_MAX_SIDE, height=ORIGINAL_MAX_SIDE)  # autorotates
    encoded = original.jpegsave_buffer(Q=JPEG_QUALITY, keep="none")
    for side in sorted(RENDITIONS.values(), reverse=True):
        pyvips.Image.thumbnail_buffer(encoded, side, height=side).jpegsave_buffer(Q=JPEG_QUALITY, keep="none")


def _rate(fn, images: list[bytes]) -> float:
    fn(images[0])
    start = time.perf_counter()
    for data in images:
        fn(data)
    return len(images) / (time.perf_counter() - start)


PEAK_CHILD = """
import sys
import django
django.setup()
from django.core.files.uploadedfile import SimpleUploadedFile
from shops.images import image_intake, image_renditions
for path in sys.argv[1:]:
    with open(path, "rb") as fh:
        image_renditions(image_intake(SimpleUploadedFile("p.jpg", fh.read())).content)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
with open("/proc/self/status") as fh:
    print(next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024)
"""


def run_p6() -> None:
    images = [_phone_jpeg(i) for i in range(6)]
    ours = _rate(_pipeline_ours, images)
    # One core each: libvips would otherwise use a thread per core.
    os.environ["VIPS_CONCURRENCY"] = "1"
    try:
        import pyvips  # noqa: F401

        vips = _rate(_pipeline_vips, images)
    except ImportError:
        vips = None
    # Peak memory of a fresh process doing the work (what one Celery worker process holds).
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, data in enumerate(images):
            paths.append(os.path.join(tmp, f"{i}.jpg"))
            with open(paths[-1], "wb") as fh:
                fh.write(data)
        # A fresh interpreter with Django loaded, like one Celery worker process.
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="marketplace.settings")
        out = subprocess.run(
            [sys.executable, "-c", PEAK_CHILD, *paths], cwd=ROOT, env=env, check=True, capture_output=True, text=True
        ).stdout
        peak = float(out.strip().splitlines()[-1])
    if vips is None:
        print(f"P6 raw: {ours:.2f} images/s on one core; pyvips is not installed, no comparison", flush=True)
    else:
        print(f"P6 raw: {ours:.2f} images/s ours, {vips:.2f} images/s pyvips, one core each", flush=True)
        figure("P6", ours / vips, "ratio", ">=", 0.9)
    figure("P6-MEM", peak, "MB", "<=", 200)


def main() -> None:
    url = database_recreate(db_config(), DB_NAME)
    django_setup(url, redis_db=13)
    _seed()
    from django.db import connections

    connections.close_all()
    run_p1(url)
    run_p2()
    run_p6()


if __name__ == "__main__":
    main()
