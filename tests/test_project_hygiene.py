"""Repository-level guarantees, run with the suite so CI enforces them."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)


def _prod_env() -> dict:
    # Neither pytest's marker nor the browser tests' async override belongs in a deployment.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_VERSION", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(
        PRODUCTION="true",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="shop.example.com",
        DEBUG="false",
        STRIPE_SECRET_KEY="sk_test_not_called_by_checks",
        STRIPE_WEBHOOK_SECRET="whsec_not_used_by_checks",
    )
    return env


def test_deploy_checks_pass_with_production_settings():
    result = _run(sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING", env=_prod_env())
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    env = _prod_env()
    del env["SECRET_KEY"]
    result = _run(sys.executable, "manage.py", "check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_test_mode_payments_unless_allowed():
    env = _prod_env()
    del env["STRIPE_SECRET_KEY"]
    refused = _run(sys.executable, "manage.py", "check", env=env)
    assert refused.returncode != 0
    assert "PRODUCTION needs STRIPE_SECRET_KEY" in refused.stderr
    allowed = _run(sys.executable, "manage.py", "check", env=env | {"ALLOW_TEST_PAYMENTS": "true"})
    assert allowed.returncode == 0, allowed.stderr


def test_production_rejects_a_weak_secret_key():
    env = _prod_env() | {"SECRET_KEY": "short"}
    result = _run(sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


@pytest.mark.django_db
def test_migrations_match_the_models():
    result = _run(sys.executable, "manage.py", "makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_lint_is_clean():
    result = _run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout


def test_ruff_format_is_clean():
    result = _run(str(BIN / "ruff"), "format", "--check", ".")
    assert result.returncode == 0, result.stdout


def test_templates_use_no_inline_styles_or_scripts():
    """The Content-Security-Policy allows no inline style or script, so none may be written."""
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        if ' style="' in text or "<style" in text or re.search(r"<script(?![^>]*\bsrc=)", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
