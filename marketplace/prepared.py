"""Server-side prepared statements for the statements every order runs.

The checkout, payment and ledger statements are large CTEs that PostgreSQL spends longer
planning than running. Prepared once per connection, they are planned once (PostgreSQL
keeps a generic plan after a few executions) and run by name after that.

A statement is written like any other, with `%(name)s` parameters, and declares each
parameter's SQL type. It prepares itself on its first use on a connection; a prepared
statement outlives the transaction (even one rolled back) and lasts as long as the
connection. A statement's output columns must be listed, not `*`: a plan prepared before a
migration added a column must keep its result type (`model_columns` lists a model's).
"""

import re

from django.db import connection

_PARAM = re.compile(r"%\((\w+)\)s")


def model_columns(model, alias: str = "") -> str:
    """The model's columns, comma-separated, each qualified by `alias` when one is given."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{field.column}" for field in model._meta.concrete_fields)


class PreparedStatement:
    def __init__(self, name: str, sql: str, **types: str):
        names: list[str] = []

        def number(match: re.Match) -> str:
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        body = _PARAM.sub(number, sql)
        if set(names) != set(types):
            raise ValueError(f"{name}: parameters {sorted(names)} but types for {sorted(types)}")
        self.name = name
        self.names = names
        declared = f" ({', '.join(types[n] for n in names)})" if names else ""
        passed = f" ({', '.join(f'%s::{types[n]}' for n in names)})" if names else ""
        self.prepare_sql = f"PREPARE {name}{declared} AS {body}"
        self.execute_sql = f"EXECUTE {name}{passed}"

    def _ensure_prepared(self, cursor) -> None:
        # Tracked per database connection: a new connection (after close or a failure) has
        # none of them, and the wrapper's raw connection object tells the two apart.
        raw = connection.connection
        known = getattr(connection, "_prepared_statements", None)
        if known is None or known[0] is not raw:
            known = connection._prepared_statements = (raw, set())
        if self.name not in known[1]:
            cursor.execute(self.prepare_sql)
            known[1].add(self.name)

    def params(self, values: dict) -> list:
        return [values[n] for n in self.names]

    def execute(self, cursor, values: dict) -> None:
        """Run it on `cursor` (a cursor of the default connection)."""
        self._ensure_prepared(cursor)
        cursor.execute(self.execute_sql, self.params(values))

    def instances(self, model, values: dict) -> list:
        """Its rows as `model` instances (see instances_fetch)."""
        with connection.cursor() as cursor:
            self.execute(cursor, values)
            return instances_fetch(cursor, model)


def instances_fetch(cursor, model) -> list:
    """The cursor's rows as `model` instances. The output starts with the model's own columns
    in model_columns order; each further column becomes an attribute of its name. (Built
    directly, as Model.from_db does: Manager.raw costs more than these statements.)"""
    fields = model._meta.concrete_fields
    extra = [column.name for column in cursor.description[len(fields) :]]
    converters = [(i, f.from_db_value) for i, f in enumerate(fields) if hasattr(f, "from_db_value")]
    found = []
    for row in cursor.fetchall():
        own = list(row[: len(fields)])
        for i, convert in converters:
            own[i] = convert(own[i], None, connection)
        instance = model.from_db(connection.alias, None, own)
        for name, value in zip(extra, row[len(fields) :], strict=True):
            setattr(instance, name, value)
        found.append(instance)
    return found


def execute_in_one_round_trip(cursor, *calls: tuple[PreparedStatement, dict]) -> None:
    """Run several statements, in order, sent as one query string: one round trip. Each
    statement still takes its own snapshot, as if sent alone; `cursor` then holds the last
    one's rows. (A failing one aborts the transaction, as it would alone.)"""
    for statement, _ in calls:
        statement._ensure_prepared(cursor)
    cursor.execute(
        "; ".join(statement.execute_sql for statement, _ in calls),
        [param for statement, values in calls for param in statement.params(values)],
    )
