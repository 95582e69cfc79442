import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from payments import ledger
from payments.ledger import Kind, LedgerUnbalanced
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction

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


# --- ledger_post_many: several transactions in two statements -------------------------------


def _capture(key: str, promoter_id: int, amount: int = 100) -> ledger.Posting:
    return ledger.Posting(
        idempotency_key=key,
        kind="adjustment",
        entries=[
            (ledger.AccountRef(Kind.CLEARING), -amount),
            (ledger.AccountRef(Kind.PROMOTER_PENDING, user_id=promoter_id), amount),
        ],
    )


def test_posting_many_creates_missing_accounts_and_posts_each_key_once():
    from tests.factories import UserFactory

    # given two promoters without accounts yet
    alice, bob = UserFactory(), UserFactory()

    # when three transactions are posted together, then the same three again
    postings = [_capture("m-1", alice.pk, 100), _capture("m-2", bob.pk, 250), _capture("m-3", alice.pk, 5)]
    first = ledger.ledger_post_many(postings)
    second = ledger.ledger_post_many(postings)

    # then each posted once, each balanced, on one account per holder
    assert (first, second) == (3, 0)
    assert ledger.balance_of(kind=Kind.PROMOTER_PENDING, user=alice) == 105
    assert ledger.balance_of(kind=Kind.PROMOTER_PENDING, user=bob) == 250
    assert ledger.balance_of(kind=Kind.CLEARING) == -355
    assert LedgerEntry.objects.count() == 6
    assert sorted(LedgerAccount.objects.values_list("code", flat=True)) == sorted(
        ["clearing:platform", f"promoter_pending:user:{alice.pk}", f"promoter_pending:user:{bob.pk}"]
    )


def test_posting_many_refuses_an_unbalanced_posting_before_writing_anything():
    from tests.factories import UserFactory

    promoter = UserFactory()
    bad = ledger.Posting(
        idempotency_key="m-bad", kind="adjustment", entries=[(ledger.AccountRef(Kind.CLEARING), -100),
                                                             (ledger.AccountRef(Kind.PLATFORM_FEES), 99)],
    )  # fmt: skip

    with pytest.raises(LedgerUnbalanced):
        ledger.ledger_post_many([_capture("m-ok", promoter.pk), bad])

    assert not LedgerTransaction.objects.exists()
    assert not LedgerAccount.objects.exists()


def test_two_transactions_creating_the_same_new_account_at_once_both_post():
    """Real connections: the second waits on the first's new account, then posts to it."""
    import threading

    from tests.factories import UserFactory

    errors: list[BaseException] = []

    def post(barrier: threading.Barrier, key: str, promoter_id: int) -> None:
        try:
            with transaction.atomic():
                barrier.wait()
                ledger.ledger_post_many([_capture(key, promoter_id)])
        except BaseException as exc:  # noqa: BLE001 - the test reports what each thread met
            errors.append(exc)
        finally:
            connection.close()

    promoters = [UserFactory() for _ in range(5)]
    for promoter in promoters:
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=post, args=(barrier, f"race-{promoter.pk}-{i}", promoter.pk)) for i in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    assert errors == []
    for promoter in promoters:
        assert LedgerAccount.objects.filter(code=f"promoter_pending:user:{promoter.pk}").count() == 1
        assert ledger.balance_of(kind=Kind.PROMOTER_PENDING, user=promoter) == 200


def test_the_database_refuses_an_unbalanced_transaction_posted_by_the_batch_statement():
    """Control for ledger_post_many: its entries are written inside a WITH clause, and the
    statement-level balance trigger still sees and refuses them."""
    clearing, platform = ledger.account_get(kind=Kind.CLEARING), ledger.account_get(kind=Kind.PLATFORM_FEES)
    params = {
        "keys": ["m-raw"], "kinds": ["adjustment"], "orders": [None], "memos": [""],
        "entry_keys": ["m-raw", "m-raw"], "entry_codes": [clearing.code, platform.code], "amounts": [-100, 99],
    }  # fmt: skip

    with pytest.raises(IntegrityError, match="unbalanced"), transaction.atomic(), connection.cursor() as cursor:
        ledger._POST.execute(cursor, params)

    assert not LedgerTransaction.objects.filter(idempotency_key="m-raw").exists()
    # and the same statement with balanced amounts is accepted
    with connection.cursor() as cursor:
        ledger._POST.execute(cursor, {**params, "amounts": [-100, 100]})
        assert cursor.fetchall() == [("m-raw", 2)]
    assert ledger.balance(platform) == 100
