import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from payments import ledger
from payments.ledger import Kind, LedgerUnbalanced
from payments.models import LedgerEntry, LedgerTransaction

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_unbalanced_transaction_written_through_the_orm_is_rejected_by_the_database():
    clearing = ledger.account_get(kind=Kind.CLEARING)
    # when a transaction with one +100 entry is committed straight through the ORM
    with pytest.raises(IntegrityError, match="unbalanced"), transaction.atomic():
        txn = LedgerTransaction.objects.create(idempotency_key="bad-1", kind="adjustment")
        LedgerEntry.objects.create(transaction=txn, account=clearing, amount_minor=100)
    # then nothing of it remains
    assert not LedgerTransaction.objects.filter(idempotency_key="bad-1").exists()
    assert not LedgerEntry.objects.exists()


def test_entries_of_one_transaction_written_by_two_statements_are_rejected():
    """Each INSERT statement must leave its transactions balanced (ledger_post and the
    set-based SQL write all of a transaction's entries at once)."""
    clearing, platform = ledger.account_get(kind=Kind.CLEARING), ledger.account_get(kind=Kind.PLATFORM_FEES)
    with pytest.raises(IntegrityError, match="unbalanced"), transaction.atomic():
        txn = LedgerTransaction.objects.create(idempotency_key="split-1", kind="adjustment")
        LedgerEntry.objects.create(transaction=txn, account=clearing, amount_minor=-100)
        LedgerEntry.objects.create(transaction=txn, account=platform, amount_minor=100)
    assert not LedgerEntry.objects.exists()


def test_a_transaction_without_entries_is_reported_by_reconciliation():
    from payments.services import reconcile

    LedgerTransaction.objects.create(idempotency_key="empty-1", kind="adjustment")
    report = reconcile()
    assert not report.ok
    assert any("has no entries" in problem for problem in report.problems)


def test_entries_can_be_neither_edited_nor_deleted():
    platform = ledger.account_get(kind=Kind.PLATFORM_FEES)
    clearing = ledger.account_get(kind=Kind.CLEARING)
    ledger.ledger_post(idempotency_key="ok-1", kind="adjustment", entries=[(clearing, -500), (platform, 500)])
    entry = LedgerEntry.objects.first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(amount_minor=1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        # Raw SQL: the ORM's own PROTECT check would stop a delete before the database does.
        cursor.execute("DELETE FROM payments_ledgertransaction")
    assert ledger.balance(platform) == 500


def test_posting_twice_with_one_key_posts_once():
    platform = ledger.account_get(kind=Kind.PLATFORM_FEES)
    clearing = ledger.account_get(kind=Kind.CLEARING)
    _, first = ledger.ledger_post(idempotency_key="k", kind="adjustment", entries=[(clearing, -7), (platform, 7)])
    _, second = ledger.ledger_post(idempotency_key="k", kind="adjustment", entries=[(clearing, -7), (platform, 7)])
    assert (first, second) == (True, False)
    assert ledger.balance(platform) == 7


@settings(max_examples=60, deadline=None)
@given(amounts=st.lists(st.integers(min_value=-(10**12), max_value=10**12).filter(bool), min_size=1, max_size=6))
def test_ledger_post_refuses_any_set_of_entries_that_does_not_sum_to_zero(amounts):
    accounts = [ledger.account_get(kind=Kind.CLEARING), ledger.account_get(kind=Kind.PLATFORM_FEES)]
    entries = [(accounts[i % 2], amount) for i, amount in enumerate(amounts)]
    before = LedgerEntry.objects.count()
    if sum(amounts) != 0:
        with pytest.raises(LedgerUnbalanced):
            ledger.ledger_post(idempotency_key=f"h-{amounts}", kind="adjustment", entries=entries)
        assert LedgerEntry.objects.count() == before
