import pytest
from django.db import connection, transaction

from accounts.models import User
from marketplace.prepared import PreparedStatement, execute_in_one_round_trip, model_columns

pytestmark = pytest.mark.django_db(transaction=True)

_ADD = PreparedStatement("test_add", "SELECT %(a)s + %(b)s * %(a)s, %(label)s", a="bigint", b="bigint", label="text")


def _prepared_here() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


def test_a_statement_is_prepared_once_per_connection_and_run_by_name():
    with connection.cursor() as cursor:
        _ADD.execute(cursor, {"a": 2, "b": 5, "label": "it's"})
        assert cursor.fetchone() == (12, "it's")
        _ADD.execute(cursor, {"a": 3, "b": -1, "label": None})
        assert cursor.fetchone() == (0, None)
    assert "test_add" in _prepared_here()


def test_it_survives_a_rolled_back_transaction_and_is_prepared_again_on_a_new_connection():
    with pytest.raises(RuntimeError), transaction.atomic(), connection.cursor() as cursor:
        _ADD.execute(cursor, {"a": 1, "b": 1, "label": "x"})
        raise RuntimeError("roll back")
    with connection.cursor() as cursor:
        _ADD.execute(cursor, {"a": 1, "b": 1, "label": "x"})
        assert cursor.fetchone() == (2, "x")

    connection.close()
    assert "test_add" not in _prepared_here()
    with connection.cursor() as cursor:
        _ADD.execute(cursor, {"a": 4, "b": 0, "label": "y"})
        assert cursor.fetchone() == (4, "y")


def test_rows_come_back_as_model_instances():
    user = User.objects.create_user(email="prepared@example.com", password=None)
    by_email = PreparedStatement(
        "test_user_by_email",
        "SELECT " + model_columns(User, "u") + ", u.id * 2 AS doubled FROM accounts_user u "  # noqa: S608
        "WHERE u.email = %(email)s",
        email="text",
    )
    found = by_email.instances(User, {"email": "prepared@example.com"})
    assert [(u.pk, u.email, u.doubled) for u in found] == [(user.pk, "prepared@example.com", user.pk * 2)]
    assert found[0].date_joined == user.date_joined
    assert not found[0]._state.adding
    assert by_email.instances(User, {"email": "nobody@example.com"}) == []


def test_a_statement_without_parameters():
    now = PreparedStatement("test_now", "SELECT 1 + 1")
    with connection.cursor() as cursor:
        now.execute(cursor, {})
        assert cursor.fetchone() == (2,)


def test_every_parameter_needs_a_declared_type():
    with pytest.raises(ValueError, match="parameters"):
        PreparedStatement("test_bad", "SELECT %(a)s, %(b)s", a="int")


def test_statements_sent_together_run_in_order_and_the_cursor_holds_the_last_ones_rows():
    remember = PreparedStatement("test_remember", "SELECT set_config('circle.test', %(v)s, false)", v="text")
    recall = PreparedStatement("test_recall", "SELECT current_setting('circle.test') || %(suffix)s", suffix="text")
    with connection.cursor() as cursor:
        execute_in_one_round_trip(cursor, (remember, {"v": "first"}), (recall, {"suffix": "!"}))
        assert cursor.fetchall() == [("first!",)]
        execute_in_one_round_trip(cursor, (remember, {"v": "second"}), (recall, {"suffix": "?"}))
        assert cursor.fetchall() == [("second?",)]
