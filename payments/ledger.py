"""The double-entry ledger: post balanced transactions, read balances as sums."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum

from marketplace.prepared import PreparedStatement, execute_in_one_round_trip
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction

Kind = LedgerAccount.Kind


class LedgerUnbalanced(ValueError):
    pass


class LedgerCurrencyMismatch(ValueError):
    pass


def _code(kind: str, shop_id: int | None, user_id: int | None, order_id: int | None) -> str:
    holder = (
        f"order:{order_id}" if order_id is not None else f"shop:{shop_id}" if shop_id is not None
        else f"user:{user_id}" if user_id is not None else "platform"
    )  # fmt: skip
    return f"{kind}:{holder}"


def account_get(*, kind: str, shop=None, user=None, order=None) -> LedgerAccount:
    """The account of `kind` for its holder, created on first use (race-safe)."""
    code = _code(
        kind,
        shop.pk if shop is not None else None,
        user.pk if user is not None else None,
        order.pk if order is not None else None,
    )
    account = LedgerAccount.objects.filter(code=code).first()
    if account is not None:
        if account.currency != settings.MARKETPLACE_CURRENCY:
            # The database would refuse the posting too (migration 0010); say why first.
            raise LedgerCurrencyMismatch(
                f"account {code} is in {account.currency} but MARKETPLACE_CURRENCY is "
                f"{settings.MARKETPLACE_CURRENCY}: the currency of a database with postings cannot change"
            )
        return account
    # ON CONFLICT DO NOTHING (ignore_conflicts) instead of a savepoint: a concurrent creator
    # simply wins.
    LedgerAccount.objects.bulk_create(
        [
            LedgerAccount(
                code=code,
                kind=kind,
                shop_id=shop.pk if shop is not None else None,
                user_id=user.pk if user is not None else None,
                order_id=order.pk if order is not None else None,
                currency=settings.MARKETPLACE_CURRENCY,
            )
        ],
        ignore_conflicts=True,
    )
    return LedgerAccount.objects.get(code=code)


def ledger_post(
    *,
    idempotency_key: str,
    kind: str,
    entries: Iterable[tuple[LedgerAccount, int]],
    order=None,
    memo: str = "",
) -> tuple[LedgerTransaction, bool]:
    """Post one balanced transaction; returns (transaction, created).

    A key seen before returns the earlier transaction and posts nothing: every caller
    can retry safely. Zero amounts are dropped; the rest must sum to zero.
    """
    lines = [(account, int(amount)) for account, amount in entries if amount]
    if sum(amount for _, amount in lines) != 0:
        raise LedgerUnbalanced(f"entries of {idempotency_key} sum to {sum(a for _, a in lines)}, not 0")
    if len(lines) < 2:
        existing = LedgerTransaction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, False
        raise LedgerUnbalanced(f"{idempotency_key} needs at least two non-zero entries")
    # One statement writes the transaction and its entries (the database refuses entries
    # added later). The unique key decides: a transaction posted before (or concurrently)
    # wins, ours inserts nothing and its entries find no transaction to join.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH posted AS (
                INSERT INTO payments_ledgertransaction (idempotency_key, kind, order_id, memo, created_at)
                VALUES (%s, %s, %s, %s, now()) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
            ), written AS (
                INSERT INTO payments_ledgerentry (transaction_id, account_id, amount_minor, created_at)
                SELECT posted.id, e.account_id, e.amount, now()
                  FROM posted, unnest(%s::bigint[], %s::bigint[]) AS e(account_id, amount)
            )
            SELECT id FROM posted
            """,
            [idempotency_key, kind, order.pk if order is not None else None, memo[:200],
             [account.pk for account, _ in lines], [amount for _, amount in lines]],
        )  # fmt: skip
        row = cursor.fetchone()
    if row is None:
        return LedgerTransaction.objects.get(idempotency_key=idempotency_key), False
    return LedgerTransaction(pk=row[0], idempotency_key=idempotency_key, kind=kind, order=order, memo=memo[:200]), True


@dataclass(frozen=True)
class AccountRef:
    """An account named by its kind and holder ids, for ledger_post_many (created on first use)."""

    kind: str
    shop_id: int | None = None
    user_id: int | None = None
    order_id: int | None = None

    @property
    def code(self) -> str:
        return _code(self.kind, self.shop_id, self.user_id, self.order_id)


@dataclass(frozen=True)
class Holder:
    """Just enough of a row for account_get when only its id is at hand: its primary key."""

    pk: int


@dataclass(frozen=True)
class Posting:
    """One balanced transaction for ledger_post_many."""

    idempotency_key: str
    kind: str
    entries: list[tuple[AccountRef, int]]
    order_id: int | None = None
    memo: str = ""


# Only missing accounts are inserted (no sequence value spent on the others). One that a
# concurrent transaction is creating makes this wait for it; the next statement then sees it.
_ACCOUNTS = PreparedStatement(
    "ledger_accounts_add",
    """
INSERT INTO payments_ledgeraccount (code, kind, shop_id, user_id, order_id, currency, created_at)
SELECT a.code, a.kind, a.shop_id, a.user_id, a.order_id, %(currency)s, now()
  FROM unnest(%(codes)s::text[], %(kinds)s::text[], %(shops)s::bigint[], %(users)s::bigint[], %(orders)s::bigint[])
       AS a(code, kind, shop_id, user_id, order_id)
 WHERE NOT EXISTS (SELECT 1 FROM payments_ledgeraccount x WHERE x.code = a.code)
ON CONFLICT (code) DO NOTHING
""",
    currency="text",
    codes="text[]",
    kinds="text[]",
    shops="bigint[]",
    users="bigint[]",
    orders="bigint[]",
)

# The unique key decides, per transaction: one posted before (or concurrently) inserts nothing,
# so its entries find no transaction to join and are not written either. Answers, for each
# transaction posted now, how many entries were written (the balance trigger checks them).
_POST = PreparedStatement(
    "ledger_post",
    """
WITH posted AS (
    INSERT INTO payments_ledgertransaction (idempotency_key, kind, order_id, memo, created_at)
    SELECT t.key, t.kind, t.order_id, t.memo, now()
      FROM unnest(%(keys)s::text[], %(kinds)s::text[], %(orders)s::bigint[], %(memos)s::text[])
           AS t(key, kind, order_id, memo)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, idempotency_key
), written AS (
    INSERT INTO payments_ledgerentry (transaction_id, account_id, amount_minor, created_at)
    SELECT posted.id, a.id, e.amount, now()
      FROM unnest(%(entry_keys)s::text[], %(entry_codes)s::text[], %(amounts)s::bigint[]) AS e(key, code, amount)
      JOIN posted ON posted.idempotency_key = e.key
      JOIN payments_ledgeraccount a ON a.code = e.code
    RETURNING transaction_id
)
SELECT posted.idempotency_key, count(written.transaction_id)
  FROM posted LEFT JOIN written ON written.transaction_id = posted.id
 GROUP BY 1
""",
    keys="text[]",
    kinds="text[]",
    orders="bigint[]",
    memos="text[]",
    entry_keys="text[]",
    entry_codes="text[]",
    amounts="bigint[]",
)


def ledger_post_many(postings: list[Posting]) -> int:
    """Post balanced transactions with two statements in one round trip, however many there
    are: the missing accounts first, then the transactions with all their entries. Returns
    how many were posted now; as with ledger_post, a key seen before posts nothing."""
    accounts: dict[str, AccountRef] = {}
    entry_counts: dict[str, int] = {}
    keys, kinds, order_ids, memos = [], [], [], []
    entry_keys, entry_codes, amounts = [], [], []
    for posting in postings:
        lines = [(account, int(amount)) for account, amount in posting.entries if amount]
        if sum(amount for _, amount in lines) != 0 or len(lines) < 2:
            raise LedgerUnbalanced(f"{posting.idempotency_key} needs two or more non-zero entries summing to 0")
        keys.append(posting.idempotency_key)
        kinds.append(posting.kind)
        order_ids.append(posting.order_id)
        memos.append(posting.memo[:200])
        entry_counts[posting.idempotency_key] = len(lines)
        for account, amount in lines:
            accounts[account.code] = account
            entry_keys.append(posting.idempotency_key)
            entry_codes.append(account.code)
            amounts.append(amount)
    if not postings:
        return 0
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # The post's snapshot is taken after the accounts statement ran: it sees them all.
        execute_in_one_round_trip(
            cursor,
            (
                _ACCOUNTS,
                {
                    "currency": settings.MARKETPLACE_CURRENCY,
                    "codes": list(accounts),
                    "kinds": [a.kind for a in accounts.values()],
                    "shops": [a.shop_id for a in accounts.values()],
                    "users": [a.user_id for a in accounts.values()],
                    "orders": [a.order_id for a in accounts.values()],
                },
            ),
            (
                _POST,
                {
                    "keys": keys,
                    "kinds": kinds,
                    "orders": order_ids,
                    "memos": memos,
                    "entry_keys": entry_keys,
                    "entry_codes": entry_codes,
                    "amounts": amounts,
                },
            ),
        )
        written = dict(cursor.fetchall())
        for key, count in written.items():
            if count != entry_counts[key]:
                # An entry found no account: the transaction would be posted incomplete.
                raise LedgerUnbalanced(f"{key}: {count} of its {entry_counts[key]} entries were written")
    return len(written)


def balance(account: LedgerAccount) -> int:
    return LedgerEntry.objects.filter(account=account).aggregate(s=Sum("amount_minor"))["s"] or 0


def balance_of(*, kind: str, shop=None, user=None, order=None) -> int:
    """The balance of a holder's account of `kind`; 0 when it was never used."""
    filters = {"account__kind": kind}
    if order is not None:
        filters["account__order"] = order
    elif shop is not None:
        filters["account__shop"] = shop
    elif user is not None:
        filters["account__user"] = user
    return LedgerEntry.objects.filter(**filters).aggregate(s=Sum("amount_minor"))["s"] or 0
