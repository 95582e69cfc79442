"""The double-entry ledger: post balanced transactions, read balances as sums."""

from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum

from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction

Kind = LedgerAccount.Kind


class LedgerUnbalanced(ValueError):
    pass


def account_get(*, kind: str, shop=None, user=None, order=None) -> LedgerAccount:
    """The account of `kind` for its holder, created on first use (race-safe)."""
    holder = (
        f"order:{order.pk}" if order is not None else f"shop:{shop.pk}" if shop is not None
        else f"user:{user.pk}" if user is not None else "platform"
    )  # fmt: skip
    code = f"{kind}:{holder}"
    account = LedgerAccount.objects.filter(code=code).first()
    if account is not None:
        return account
    # ON CONFLICT instead of a savepoint: a concurrent creator simply wins.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payments_ledgeraccount (code, kind, shop_id, user_id, order_id, currency, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, now()) ON CONFLICT (code) DO NOTHING",
            [
                code,
                kind,
                shop.pk if shop is not None else None,
                user.pk if user is not None else None,
                order.pk if order is not None else None,
                settings.MARKETPLACE_CURRENCY,
            ],
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
    with transaction.atomic(savepoint=False):
        # The unique key decides: a transaction posted before (or concurrently) wins, ours is a no-op.
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO payments_ledgertransaction (idempotency_key, kind, order_id, memo, created_at) "
                "VALUES (%s, %s, %s, %s, now()) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                [idempotency_key, kind, order.pk if order is not None else None, memo[:200]],
            )
            row = cursor.fetchone()
        if row is None:
            return LedgerTransaction.objects.get(idempotency_key=idempotency_key), False
        LedgerEntry.objects.bulk_create(
            [LedgerEntry(transaction_id=row[0], account=account, amount_minor=amount) for account, amount in lines]
        )
    return LedgerTransaction(pk=row[0], idempotency_key=idempotency_key, kind=kind, order=order, memo=memo[:200]), True


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
