"""kill -9 of the Celery worker in the middle of a settlement batch, then a restart: every
order is settled exactly once.

The worker is a real process (`celery -A marketplace worker`) on the test database and
the test Redis database, so it can be killed with SIGKILL like a crashed container. To
kill it inside a batch rather than between two, another connection holds uncommitted
merchant accounts of the shops whose orders come last: the batch that reaches them waits
on the accounts' unique code with its orders locked, and the worker dies there.
"""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from marketplace.celery import app
from orders import services as order_services
from orders.models import Order, OrderEvent
from payments import ledger
from payments import services as payment_services
from payments.ledger import Kind
from payments.models import LedgerEntry, LedgerTransaction
from payments.services import orders_settle, reconcile
from payments.tasks import orders_settle_due_task
from shops.models import Shop
from tests.factories import UserFactory, make_product
from tests.helpers import ADDRESS

ROOT = Path(__file__).resolve().parents[2]

EARLY_SHOPS = 3  # their orders' after-sales windows ended first: settled before the crash
LATE_SHOPS = 3  # their merchant accounts are held open: the batch that reaches them is killed
CHECKOUTS = 50  # one order per shop each: 300 orders
BATCH = 25
EARLY_ORDERS = EARLY_SHOPS * CHECKOUTS
ALL_ORDERS = (EARLY_SHOPS + LATE_SHOPS) * CHECKOUTS
# Bounds on waiting for another process, never assertions about speed.
WAIT_SECONDS = 120
SWEEP_EVERY_SECONDS = 5


# --- Orders ------------------------------------------------------------------------------


def _received_orders(*, early_shops: int, late_shops: int, checkouts: int) -> tuple[list[int], list[Shop]]:
    """Paid and received orders whose after-sales window has ended, through the services
    (checkout, payment success as the webhook handler records it, ship, confirm), so each
    holds its escrow and its promoters' pending commissions like a real paid order. The
    early shops' windows ended an hour before the late shops'. Returns (order ids, late shops)."""
    shops = []
    for i in range(early_shops + late_shops):
        product = make_product(price_minor=1000 + 37 * i, stock=checkouts, commission_bps=1000 + 100 * i)
        shops.append((product.shop, product.variants.get()))
    promoters = [UserFactory(), UserFactory()]
    buyers = [UserFactory() for _ in range(5)]
    for n in range(checkouts):
        lines = [
            # Every other shop's sale came through a promoter: settlement moves commissions too.
            order_services.CheckoutLine(variant.pk, 1, variant.price_minor, promoters[n % 2].pk if i % 2 else None)
            for i, (_, variant) in enumerate(shops)
        ]
        group = order_services.checkout_place(
            buyer=buyers[n % len(buyers)], lines=lines, address=ADDRESS, idempotency_key=uuid.uuid4().hex
        )
        payment_services.order_group_mark_paid(
            group_id=group.pk, amount_minor=group.total_minor, payment_intent_id=f"pi_crash_{group.pk}"
        )
        for order in group.orders.select_related("shop__owner", "buyer"):
            order_services.order_ship(
                order_id=order.pk, merchant=order.shop.owner, carrier="SF Express", tracking_number="SF1234567"
            )
            order_services.order_confirm_receipt(order_id=order.pk, buyer=order.buyer)
    late = [shop for shop, _ in shops[early_shops:]]
    now = timezone.now()
    Order.objects.exclude(shop__in=late).update(after_sales_ends_at=now - timedelta(hours=2))
    Order.objects.filter(shop__in=late).update(after_sales_ends_at=now - timedelta(hours=1))
    ids = list(Order.objects.filter(status=Order.Status.RECEIVED).order_by("pk").values_list("pk", flat=True))
    assert len(ids) == (early_shops + late_shops) * checkouts
    return ids, late


def _settled_count() -> int:
    return Order.objects.filter(status=Order.Status.SETTLED).count()


def _escrow_releases() -> int:
    return LedgerEntry.objects.filter(account__kind=Kind.ESCROW, transaction__kind="settlement").count()


def _settlement_problems(order_ids: list[int]) -> list[str]:
    """Everything that is not "settled exactly once" about these orders, as sentences."""
    problems = []
    statuses = dict(Order.objects.filter(pk__in=order_ids).values_list("pk", "status"))
    problems += [f"order {pk} is {statuses.get(pk)}, not settled" for pk in order_ids if statuses.get(pk) != "settled"]
    # A settlement batch releases each of its orders' escrow with one entry of its own.
    releases = Counter(
        LedgerEntry.objects.filter(
            account__order_id__in=order_ids, account__kind=Kind.ESCROW, transaction__kind="settlement"
        ).values_list("account__order_id", flat=True)
    )
    problems += [f"order {pk} has {releases[pk]} escrow releases" for pk in order_ids if releases[pk] != 1]
    unbalanced = (
        LedgerEntry.objects.filter(transaction__kind="settlement")
        .values("transaction_id")
        .annotate(total=Sum("amount_minor"))
        .exclude(total=0)
    )
    problems += [f"settlement transaction {row['transaction_id']} sums to {row['total']}" for row in unbalanced]
    # Escrow: what an order still holds; settled, nothing (commissions: reconcile() checks them).
    held = (
        LedgerEntry.objects.filter(account__order_id__in=order_ids, account__kind=Kind.ESCROW)
        .values("account__order_id")
        .annotate(total=Sum("amount_minor"))
        .exclude(total=0)
    )
    problems += [f"order {row['account__order_id']} still holds {row['total']} in escrow" for row in held]
    events = (
        OrderEvent.objects.filter(order_id__in=order_ids)
        .values("order_id")
        .annotate(n=Count("pk", filter=Q(kind="settled")))
        .exclude(n=1)
    )
    problems += [f"order {row['order_id']} has {row['n']} settled events" for row in events]
    return problems


# --- Processes and connections -----------------------------------------------------------


def _worker_env() -> dict:
    """The test process's environment, pointed at the database and Redis this test uses:
    the test database pytest-django made, and the broker this process sends to (with
    PYTEST_VERSION kept, settings.TESTING picks the same Redis database)."""
    db = connection.settings_dict
    host = quote(db["HOST"] or "", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{quote(db['USER'])}:{quote(db['PASSWORD'] or '')}@{host}{port}/{db['NAME']}",
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CELERY_RESULT_BACKEND=settings.CELERY_RESULT_BACKEND,
        PYTEST_VERSION=os.environ.get("PYTEST_VERSION", "8"),
        PYTHONUNBUFFERED="1",
    )
    return env


@contextmanager
def _worker_process(name: str, log_path: Path):
    """A real worker process, one task at a time; stopped (or reaped) on the way out."""
    command = [
        sys.executable, "-m", "celery", "-A", "marketplace", "worker", "--pool=solo", "--concurrency=1",
        "-Q", app.conf.task_default_queue, "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
        "--without-heartbeat", "--loglevel=INFO",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=_worker_env(), stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@contextmanager
def _merchant_accounts_held_open(shops: list[Shop]):
    """On another connection, create the shops' merchant accounts and keep that transaction
    open until the block ends, then roll it back. A settlement that needs one of the
    accounts waits on its unique code meanwhile. Yields that connection's backend pid."""
    held, release = threading.Event(), threading.Event()
    state: dict = {}

    def hold():
        try:
            with transaction.atomic():
                for shop in shops:
                    ledger.account_get(kind=Kind.MERCHANT_AVAILABLE, shop=shop)
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    state["pid"] = cursor.fetchone()[0]
                held.set()
                release.wait(WAIT_SECONDS * 2)
                transaction.set_rollback(True)
        except Exception as exc:  # noqa: BLE001 - reported by the test thread
            state["error"] = exc
            held.set()
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        held.wait(WAIT_SECONDS)
        assert "pid" in state, state.get("error", "the accounts were not created")
        yield state["pid"]
    finally:
        release.set()
        thread.join()


def _backends_blocked_by(pid: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", [pid])
        return [row[0] for row in cursor.fetchall()]


def _backend_alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone() is not None


def _wait_for(what: str, condition, *, worker=None, log_path=None, every=None):
    """Poll `condition` until it is truthy; fail after WAIT_SECONDS or if the worker exits.
    `every` is called now and then while waiting (a beat-like sweep)."""
    deadline = time.monotonic() + WAIT_SECONDS
    next_call = time.monotonic() + SWEEP_EVERY_SECONDS
    while not (value := condition()):
        if worker is not None and worker.poll() is not None:
            pytest.fail(f"the worker exited ({worker.returncode}) while waiting for {what}:\n{log_path.read_text()}")
        if time.monotonic() > deadline:
            log = log_path.read_text()[-5000:] if log_path else ""
            pytest.fail(f"gave up waiting for {what}\n{log}")
        if every is not None and time.monotonic() > next_call:
            every()
            next_call = time.monotonic() + SWEEP_EVERY_SECONDS
        time.sleep(0.1)
    return value


# --- Tests -------------------------------------------------------------------------------


def test_a_worker_killed_in_a_settlement_batch_leaves_every_order_settled_once_after_restart(
    transactional_db, tmp_path
):
    # given 300 received orders past their after-sales window, the last 150 in late shops
    order_ids, late_shops = _received_orders(early_shops=EARLY_SHOPS, late_shops=LATE_SHOPS, checkouts=CHECKOUTS)
    assert reconcile().ok
    first_log, second_log = tmp_path / "worker-1.log", tmp_path / "worker-2.log"

    with _merchant_accounts_held_open(late_shops) as blocker_pid, _worker_process("crash-1", first_log) as first:
        # when beat sends the settlement sweep and the worker chains batch after batch
        orders_settle_due_task.delay(BATCH)
        # until a batch reaches a late shop and waits, its orders locked, inside its transaction
        (blocked_pid,) = _wait_for(
            "the worker to block inside a batch",
            lambda: _backends_blocked_by(blocker_pid),
            worker=first,
            log_path=first_log,
        )
        assert _settled_count() == EARLY_ORDERS
        # and the worker is killed there
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=WAIT_SECONDS)
        assert first.returncode == -signal.SIGKILL
    # The blocker rolled back; the dead worker's database session finds its client gone and
    # ends without a commit (no COMMIT ever reaches it).
    _wait_for("the killed worker's database session to end", lambda: not _backend_alive(blocked_pid))

    # then nothing of the killed batch was kept
    assert _settled_count() == EARLY_ORDERS
    assert _escrow_releases() == EARLY_ORDERS

    # when a new worker starts and beat sends the sweep again (the killed message is not
    # redelivered before the broker's visibility timeout, an hour; the sweep catches it)
    with _worker_process("crash-2", second_log) as second:
        orders_settle_due_task.delay(BATCH)
        _wait_for(
            "every order to be settled",
            lambda: _settled_count() == ALL_ORDERS,
            worker=second,
            log_path=second_log,
            every=lambda: orders_settle_due_task.delay(BATCH),
        )

    # then every order is settled exactly once, the books balance and no escrow is left
    assert _settlement_problems(order_ids) == []
    assert _escrow_releases() == ALL_ORDERS
    report = reconcile()
    assert report.ok, report.problems
    assert report.checked_orders == ALL_ORDERS


@pytest.mark.django_db
def test_the_settled_once_check_reports_an_order_settled_twice():
    # given orders settled once, which the check accepts
    order_ids, _ = _received_orders(early_shops=1, late_shops=1, checkouts=2)
    assert orders_settle(order_ids=order_ids) == len(order_ids)
    assert _settlement_problems(order_ids) == []
    assert reconcile().ok

    # when one order's settlement is posted a second time under another key (a settlement
    # without its idempotency key, run again after a crash)
    twice = order_ids[0]
    released = LedgerEntry.objects.get(
        account__order_id=twice, account__kind=Kind.ESCROW, transaction__kind="settlement"
    )
    ledger.ledger_post(
        idempotency_key=f"settle:order:{twice}:again",
        kind=LedgerTransaction.Kind.SETTLEMENT,
        order=Order.objects.get(pk=twice),
        entries=[
            (released.account, released.amount_minor),
            (ledger.account_get(kind=Kind.PLATFORM_FEES), -released.amount_minor),
        ],
    )

    # then the check names that order, and only that order
    problems = _settlement_problems(order_ids)
    assert f"order {twice} has 2 escrow releases" in problems
    assert all(f"order {twice} " in problem for problem in problems), problems
    assert not reconcile().ok
