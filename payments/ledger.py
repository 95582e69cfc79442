"""The double-entry ledger: post balanced transactions, read balances as sums."""

from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, transaction
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
    try:
        with transaction.atomic():
            return LedgerAccount.objects.create(
                code=code,
                kind=kind,
                shop_id=shop.pk if shop is not None else None,
                user_id=user.pk if user is not None else None,
                order_id=order.pk if order is not None else None,
                currency=settings.MARKETPLACE_CURRENCY,
            )
    except IntegrityError:
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
    existing = LedgerTransaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing, False
    if len(lines) < 2:
        raise LedgerUnbalanced(f"{idempotency_key} needs at least two non-zero entries")
    try:
        with transaction.atomic():
            txn = LedgerTransaction.objects.create(
                idempotency_key=idempotency_key, kind=kind, order=order, memo=memo[:200]
            )
            LedgerEntry.objects.bulk_create(
                [LedgerEntry(transaction=txn, account=account, amount_minor=amount) for account, amount in lines]
            )
    except IntegrityError:
        # A concurrent poster won the unique key: theirs stands, ours is a no-op.
        return LedgerTransaction.objects.get(idempotency_key=idempotency_key), False
    return txn, True


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
