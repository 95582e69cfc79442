"""`make run` stops everything it started, whenever it is interrupted."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra) -> dict:
    # A run as a developer starts it: no pytest marker, so the settings are not the test ones.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_VERSION", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(extra)
    return env


def _children(pid: int) -> set[int]:
    """Every live descendant of `pid`, read from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: only its parent has not read its status yet.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _default_sigint():
    # A shell runs background jobs with SIGINT ignored, and children inherit that; a terminal's
    # Ctrl-C reaches processes that have it at its default, as these get it here.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_line(proc: subprocess.Popen, text: str) -> list[str]:
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError("".join(lines))


def _embedded(data_dir: Path) -> subprocess.Popen:
    child = "import time; print('child ready', flush=True); time.sleep(600)"
    env = _env(MARKETPLACE_DATA_DIR=str(data_dir), REDIS_URL=settings.REDIS_URL)
    env.pop("DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "marketplace.embedded", "--", sys.executable, "-c", child],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=_default_sigint,  # noqa: PLW1509 - no threads run between fork and exec here
    )


def _postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split()[0])


@pytest.fixture
def data_dir():
    """Its own directory, outside pytest's shared basetemp: suites running side by side as
    one user rotate that one, and pgserver (as root) hands the data directory to its own user."""
    path = Path(tempfile.mkdtemp(prefix="cm-embedded-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_embedded_postgres_stops_on_an_interrupt_even_after_a_crashed_run(data_dir, signum):
    pgdata = data_dir / "pg"
    # given a first run, stopped the ordinary way, so the data directory exists
    first = _embedded(data_dir)
    _wait_for_line(first, "child ready")
    postmaster = _postmaster_pid(pgdata)
    os.killpg(first.pid, signum)
    assert first.wait() is not None
    assert not _alive(postmaster)
    # and a run that died without cleaning up, still listed as a user of the server
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (pgdata / ".handle_pids.json").write_text(json.dumps([dead.pid]))
    # when another run is interrupted (the signal to its whole process group, as Ctrl-C does)
    second = _embedded(data_dir)
    _wait_for_line(second, "child ready")
    postmaster = _postmaster_pid(pgdata)
    os.killpg(second.pid, signum)
    second.wait()
    # then its PostgreSQL stopped with it
    assert not _alive(postmaster)
    assert not (pgdata / "postmaster.pid").exists()


def _database_url() -> str:
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
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_make_run_interrupted_while_it_seeds_the_logins_stops_web_worker_and_beat(tmp_path, signum):
    # given `make run`'s supervisor on the test database, up to the moment it seeds the logins
    proc = subprocess.Popen(
        [sys.executable, "-m", "marketplace.devserver"],
        cwd=ROOT,
        env=_env(
            DATABASE_URL=_database_url(),
            REDIS_URL=settings.REDIS_URL,
            PORT=str(_free_port()),
            MEDIA_ROOT=str(tmp_path / "media"),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=_default_sigint,  # noqa: PLW1509 - no threads run between fork and exec here
    )
    try:
        _wait_for_line(proc, "Circle Market is running")
        started = _children(proc.pid)
        # when its process group is interrupted, as Ctrl-C or `kill -TERM -pgid` does
        os.killpg(proc.pid, signum)
        proc.wait()
        # then web, worker, beat and the seeding command are all gone
        assert len(started) >= 3
        assert [pid for pid in started if _alive(pid)] == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
