"""Shared bench plumbing: figures, a throw-away database per benchmark, Django setup."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, unquote

import environ
import psycopg2

ROOT = Path(__file__).resolve().parents[1]


def figure(fid: str, value: float, unit: str, op: str, target: float) -> None:
    print(f"FIGURE {fid} {value:.3f} {unit} target {op} {target}", flush=True)


def db_config() -> dict:
    # The owner's: a bench creates databases and writes its data as the owner.
    return environ.Env.db_url_config(os.environ.get("MIGRATION_DATABASE_URL") or os.environ["DATABASE_URL"])


def database_url(cfg: dict, name: str) -> str:
    host = quote(unquote(cfg["HOST"] or ""), safe="")
    port = f":{cfg['PORT']}" if cfg["PORT"] else ""
    return f"postgres://{quote(cfg['USER'])}:{quote(cfg['PASSWORD'] or '')}@{host}{port}/{name}"


def database_recreate(cfg: dict, name: str) -> str:
    """Drop and create database `name` on the DATABASE_URL server, migrate it; return its URL."""
    conn = psycopg2.connect(
        dbname="postgres", user=cfg["USER"], password=cfg["PASSWORD"] or None,
        host=unquote(cfg["HOST"] or "") or None, port=cfg["PORT"] or None,
    )  # fmt: skip
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    url = database_url(cfg, name)
    env = dict(os.environ, DATABASE_URL=url, MIGRATION_DATABASE_URL=url)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    return url


def django_setup(url: str, redis_db: int) -> None:
    os.environ["DATABASE_URL"] = os.environ["MIGRATION_DATABASE_URL"] = url
    os.environ["REDIS_URL"] = os.environ["REDIS_URL"].rsplit("/", 1)[0] + f"/{redis_db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    import django

    django.setup()
