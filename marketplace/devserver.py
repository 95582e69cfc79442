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


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived: stop what was started and leave."""


def _interrupt(*_):
    raise Interrupted


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], check=True)  # noqa: S603


def _stop(children: dict[str, subprocess.Popen]) -> None:
    # Further signals must not cut this short and leave a child behind.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for proc in children.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in children.values():
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    # The local Stripe sends its webhooks here, never to a Host header a caller chose.
    os.environ.setdefault("SITE_URL", f"http://{HOST}:{PORT}")
    children: dict[str, subprocess.Popen] = {}
    # From the first second: an interrupt at any point (migrating, seeding, starting the
    # children, waiting for the server) stops every child started so far.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
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
        for name, cmd in commands.items():
            children[name] = subprocess.Popen(cmd)  # noqa: S603
        url = f"http://{HOST}:{PORT}/"
        for _ in range(60):
            try:
                urllib.request.urlopen(url + "healthz", timeout=2)  # noqa: S310 - our own local server
                break
            except OSError:
                time.sleep(0.5)
        print(f"\n  Circle Market is running at {url}", flush=True)
        print(f"  Worker check (as staff): {url}healthz?worker=1 · API docs: {url}api/docs/", flush=True)
        _manage("seed_demo", "--logins-only")
        print("  Ctrl-C stops web, worker and beat.\n", flush=True)
        while all(p.poll() is None for p in children.values()):
            time.sleep(0.5)
        failed = [name for name, p in children.items() if p.returncode is not None]
        print(f"  {', '.join(failed)} stopped on its own; stopping the rest.", flush=True)
        return 1
    except Interrupted:
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"  {' '.join(exc.cmd[1:])} failed ({exc.returncode}); stopping.", flush=True)
        return 1
    finally:
        _stop(children)


if __name__ == "__main__":
    sys.exit(main())
