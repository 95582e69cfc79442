"""What can be checked of the docker-compose deployment without Docker."""

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_defines_the_production_services_with_health_checks():
    services = COMPOSE["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    for name in ("postgres", "redis", "web", "worker", "beat"):
        assert "healthcheck" in services[name], name
    assert services["web"]["command"][0] == "gunicorn"
    assert services["worker"]["command"][:4] == ["celery", "-A", "marketplace", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "marketplace", "beat"]


def _test_database_url() -> str:
    """The URL of the test database pytest-django made (the subprocess must use it too)."""
    from django.db import connection

    db = connection.settings_dict
    host = quote(db["HOST"] or "", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{quote(db['USER'])}:{quote(db['PASSWORD'] or '')}@{host}{port}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_the_compose_web_command_serves_the_app_with_production_settings():
    # given the exact command docker-compose runs for `web`, on a local port
    port = _free_port()
    command = COMPOSE["services"]["web"]["command"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_VERSION", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(
        PRODUCTION="true",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=_test_database_url(),
        PORT=str(port),
        WEB_CONCURRENCY="1",
        ALLOW_TEST_PAYMENTS="true",
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
    )
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # when it has started (bounded wait, not a timing assertion)
        body, status = None, None
        for _ in range(60):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    status, body = response.status, response.read()
                break
            except urllib.error.HTTPError as exc:
                status, body = exc.code, exc.read()
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.5)
        # then /healthz answers 200 with database and Redis ok
        assert status == 200, (status, body)
        assert b'"database": "ok"' in body and b'"redis": "ok"' in body
    finally:
        proc.terminate()
        proc.wait(timeout=20)
