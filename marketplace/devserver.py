"""`make run`: migrate, load demo data once, then run web, worker and beat together.

Run through marketplace.embedded so DATABASE_URL and REDIS_URL exist. Ctrl-C (or
SIGTERM) stops all three children, then the embedded servers stop.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request

HOST = os.environ.get("HOST", "127.0.0.1")
PORT = os.environ.get("PORT", "8000")


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], check=True)  # noqa: S603


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    _manage("migrate", "--no-input", "-v", "0")
    _manage("seed_demo", "-v", "0")
    celery = [sys.executable, "-m", "celery", "-A", "marketplace"]
    commands = {
        "web": [sys.executable, "manage.py", "runserver", f"{HOST}:{PORT}", "--noreload"],
        "worker": [
            *celery,
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--without-gossip",
            "--without-mingle",
        ],
        "beat": [*celery, "beat", "--loglevel", "INFO", "--schedule", ".data/celerybeat-schedule"],
    }
    children = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}  # noqa: S603
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    url = f"http://{HOST}:{PORT}/"
    for _ in range(60):
        try:
            urllib.request.urlopen(url + "healthz", timeout=2)  # noqa: S310 - our own local server
            break
        except OSError:
            time.sleep(0.5)
    print(f"\n  Circle Market is running at {url}", flush=True)
    print(f"  Worker check: {url}healthz?worker=1 · API docs: {url}api/docs/", flush=True)
    _manage("seed_demo", "--logins-only")
    print("  Ctrl-C stops web, worker and beat.\n", flush=True)
    while not stopping and all(p.poll() is None for p in children.values()):
        time.sleep(0.5)
    for proc in children.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in children.values():
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
    failed = [
        n for n, p in children.items() if p.returncode not in (0, -signal.SIGTERM, -signal.SIGINT) and not stopping
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
