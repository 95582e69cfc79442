"""The database protects the books from the app's own role (payments/db_roles.py, migration
0010): each forbidden thing is tried through raw SQL on a connection of the app's role to
the test database, and refused. The suite itself runs as the owner, which creates,
migrates and flushes (TRUNCATE) the test database."""

from pathlib import Path

import psycopg2
import pytest
import yaml
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from orders.models import Order
from payments import ledger
from payments.ledger import Kind
from payments.models import LedgerAccount, LedgerEntry
from payments.services import payouts_run, reconcile, refund_create
from tests.factories import UserFactory, make_product, make_shop
from tests.helpers import pay, place, settle_due, ship_confirm_and_age

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def app_db():
    """A connection of its own, logged in as the app's role (autocommit, like the app)."""
    db = connection.settings_dict
    conn = psycopg2.connect(
        dbname=db["NAME"], user=settings.DATABASE_APP_ROLE, password=settings.DATABASE_APP_PASSWORD or None,
        host=db["HOST"] or None, port=db["PORT"] or None, options=db["OPTIONS"]["options"],
    )  # fmt: skip
    conn.autocommit = True
    yield conn
    conn.close()


def _refused(conn, sql: str, params=None) -> str:
    """Run `sql` and return the database's refusal (the test fails if it was accepted)."""
    with pytest.raises(psycopg2.Error) as refusal, conn.cursor() as cursor:
        cursor.execute(sql, params)
    return str(refusal.value)


def _one(conn, sql: str, params=None):
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


@pytest.fixture
def books():
    """A committed, balanced capture: clearing −500, platform fees +500 (posted by the owner)."""
    clearing, fees = ledger.account_get(kind=Kind.CLEARING), ledger.account_get(kind=Kind.PLATFORM_FEES)
    txn, _ = ledger.ledger_post(idempotency_key="old-1", kind="adjustment", entries=[(clearing, -500), (fees, 500)])
    return {"txn": txn.pk, "clearing": clearing.pk, "fees": fees.pk}


def _ledger_state():
    return sorted(LedgerEntry.objects.values_list("transaction_id", "account_id", "amount_minor"))


def test_the_app_role_is_a_plain_login_that_owns_nothing(app_db):
    assert _one(app_db, "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user") == (
        settings.DATABASE_APP_ROLE,
        False,
    )
    owned = _one(
        app_db, "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
    )
    assert owned == (0,)


@pytest.mark.parametrize("table", ["payments_ledgerentry", "payments_ledgertransaction", "payments_ledgeraccount"])
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {table} SET created_at = created_at",
        "DELETE FROM {table}",
        "TRUNCATE {table} CASCADE",
    ],
)
def test_the_app_role_can_neither_update_delete_nor_truncate_the_ledger(app_db, books, table, statement):
    before = _ledger_state()
    message = _refused(app_db, statement.format(table=table))
    assert "permission denied" in message
    assert _ledger_state() == before


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("ALTER TABLE payments_ledgerentry DISABLE TRIGGER ledger_entries_balanced", "must be owner"),
        ("ALTER TABLE payments_ledgerentry DISABLE TRIGGER ALL", "must be owner"),
        ("ALTER TABLE payments_ledgertransaction DISABLE TRIGGER ledger_transaction_append_only", "must be owner"),
        ("ALTER TABLE payments_ledgeraccount DISABLE TRIGGER ledger_account_fixed", "must be owner"),
        ("DROP TRIGGER ledger_entry_append_only ON payments_ledgerentry", "must be owner"),
        ("SET session_replication_role = replica", "permission denied to set parameter"),
        ("ALTER TABLE payments_ledgeraccount ALTER COLUMN currency DROP NOT NULL", "must be owner"),
        ("ALTER TABLE orders_order ADD COLUMN note text", "must be owner"),
        ("DROP TABLE orders_order", "must be owner"),
        ("CREATE TABLE public.shadow_ledger (id int)", "permission denied for schema public"),
        (
            "CREATE TRIGGER sneak BEFORE INSERT ON payments_ledgerentry "
            "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()",
            "permission denied",
        ),
        (
            "CREATE OR REPLACE FUNCTION ledger_entries_check_balanced() RETURNS trigger "
            "LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'",
            "permission denied",
        ),
        ("DELETE FROM django_migrations", "permission denied"),
        ("ALTER ROLE CURRENT_USER SUPERUSER", "superuser"),
    ],
)
def test_the_app_role_cannot_alter_anything_nor_switch_the_guards_off(app_db, books, statement, refusal):
    message = _refused(app_db, statement)
    assert refusal in message.lower()  # PostgreSQL 16 says "SUPERUSER" where 15 says "superuser"


def test_account_kind_holder_and_currency_never_change_not_even_for_the_owner(books):
    shop = make_shop()
    for change in ("kind = 'merchant_available'", f"shop_id = {shop.pk}", "currency = 'EUR'", "code = 'x'"):
        with pytest.raises(DatabaseError, match="never change"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(f"UPDATE payments_ledgeraccount SET {change} WHERE id = %s", [books["fees"]])  # noqa: S608
    with pytest.raises(DatabaseError, match="permanent"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM payments_ledgeraccount WHERE id = %s", [books["fees"]])
    assert LedgerAccount.objects.get(pk=books["fees"]).kind == Kind.PLATFORM_FEES


APPEND = (
    "INSERT INTO payments_ledgerentry (transaction_id, account_id, amount_minor, created_at) "
    "VALUES (%(txn)s, %(clearing)s, -700, now()), (%(txn)s, %(fees)s, 700, now())"
)

POST = """
WITH t AS (
    INSERT INTO payments_ledgertransaction (idempotency_key, kind, memo, created_at)
    VALUES (%(key)s, 'adjustment', '', now()) RETURNING id
)
INSERT INTO payments_ledgerentry (transaction_id, account_id, amount_minor, created_at)
SELECT t.id, e.account_id, e.amount, now()
  FROM t, unnest(%(accounts)s::bigint[], %(amounts)s::bigint[]) e(account_id, amount)
RETURNING transaction_id
"""


def test_a_balanced_pair_appended_to_an_old_transaction_is_refused(app_db, books):
    before = _ledger_state()
    assert "is closed" in _refused(app_db, APPEND, books)
    # the owner is refused too: the rule is the database's, not a privilege
    with pytest.raises(DatabaseError, match="is closed"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(APPEND, books)
    assert _ledger_state() == before


def test_entries_are_written_only_by_the_statement_that_creates_their_transaction(app_db, books):
    # the app's own way, one statement: accepted
    params = {"key": "new-1", "accounts": [books["clearing"], books["fees"]], "amounts": [-300, 300]}
    txn = _one(app_db, POST, params)[0]
    # a transaction created now, its entries by a second statement of the same database
    # transaction, then a second pair by a third: the third is refused
    app_db.autocommit = False
    try:
        with app_db.cursor() as cursor:
            cursor.execute(
                "INSERT INTO payments_ledgertransaction (idempotency_key, kind, memo, created_at) "
                "VALUES ('new-2', 'adjustment', '', now()) RETURNING id"
            )
            fresh = cursor.fetchone()[0]
            cursor.execute(APPEND, {**books, "txn": fresh})
        assert "is closed" in _refused(app_db, APPEND, {**books, "txn": fresh})
    finally:
        app_db.rollback()
        app_db.autocommit = True
    assert sorted(a for t, _, a in _ledger_state() if t == txn) == [-300, 300]


def test_mixed_currencies_in_one_transaction_are_refused(app_db, books):
    # given an account in another currency (the app may add accounts)
    euro = _one(
        app_db,
        "INSERT INTO payments_ledgeraccount (code, kind, currency, created_at) "
        "VALUES ('refunds:platform:eur', 'refunds', 'EUR', now()) RETURNING id",
    )[0]
    # when one transaction has entries on it and on a CNY account, then it is refused
    params = {"key": "mixed-1", "accounts": [books["clearing"], euro], "amounts": [-100, 100]}
    message = _refused(app_db, POST, params)
    assert f"is in {settings.MARKETPLACE_CURRENCY} but account {euro} is not" in message


def test_an_entry_on_an_account_of_another_currency_than_its_transaction_is_refused(app_db):
    # given two EUR accounts and a session posting in the deployment's currency
    ids = [
        _one(
            app_db,
            "INSERT INTO payments_ledgeraccount (code, kind, currency, created_at) "
            "VALUES (%s, 'refunds', 'EUR', now()) RETURNING id",
            [f"eur-{i}"],
        )[0]
        for i in range(2)
    ]
    message = _refused(app_db, POST, {"key": "eur-1", "accounts": ids, "amounts": [-100, 100]})
    assert "but account" in message and "is not" in message
    # and with the session's currency set to theirs, the same posting is accepted
    with app_db.cursor() as cursor:
        cursor.execute("SET marketplace.currency = 'EUR'")
    assert _one(app_db, POST, {"key": "eur-1", "accounts": ids, "amounts": [-100, 100]})


def test_the_app_role_runs_the_money_flow_with_its_rights_alone(client):
    """Checkout, payment, settlement, payout and a refund after payout, every statement as the
    app's role: the rights it was given are all it needs."""
    product = make_product(price_minor=20_000, stock=5)
    shop = product.shop
    shop.stripe_account_id = "acct_local_role"
    shop.save(update_fields=["stripe_account_id"])
    buyer = UserFactory()
    options = connection.settings_dict["OPTIONS"]["options"]
    # Every connection Django opens from here on starts as the app's role, as the app's would.
    connection.close()
    connection.settings_dict["OPTIONS"]["options"] = f"{options} -c role={settings.DATABASE_APP_ROLE}"
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == settings.DATABASE_APP_ROLE
        group = pay(client, place(buyer, (product.variants.get(), 1)))
        order = ship_confirm_and_age(group.orders.get())
        assert settle_due() == 1
        assert len(payouts_run(minimum_minor=1)) == 1
        with transaction.atomic():
            refund_create(order=Order.objects.select_for_update().get(pk=order.pk), amount_minor=5_000, reason="test")
        assert reconcile().ok
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == settings.DATABASE_APP_ROLE
    finally:
        connection.close()
        connection.settings_dict["OPTIONS"]["options"] = options


def test_compose_runs_the_app_as_its_role_and_only_migrate_as_the_owner():
    compose = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("web", "worker", "beat", "migrate"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://circle_app:"), name
        assert env["POSTGRES_PASSWORD"] == "", name  # .env's owner password does not reach the app
    assert services["migrate"]["environment"]["MIGRATION_DATABASE_URL"].startswith("postgres://circle:")
    assert not any("MIGRATION_DATABASE_URL" in services[name]["environment"] for name in ("web", "worker", "beat"))
    assert services["migrate"]["command"][-2:] == ["migrate", "--no-input"]
