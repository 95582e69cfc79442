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
        self.prepare_sql = f"PREPARE {name} ({', '.join(types[n] for n in names)}) AS {body}"
        self.execute_sql = f"EXECUTE {name} ({', '.join(f'%s::{types[n]}' for n in names)})"

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

    def raw(self, model, values: dict):
        """Its rows as `model` instances (Manager.raw); the output columns name the fields."""
        connection.ensure_connection()
        with connection.cursor() as cursor:
            self._ensure_prepared(cursor)
        return model.objects.raw(self.execute_sql, self.params(values))
