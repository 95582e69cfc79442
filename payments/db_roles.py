"""Two database roles: the owner, which migrates, and the app's, which cannot change the books.

After every `migrate` (post_migrate, see PaymentsConfig.ready) the owner grants the app role
(settings.DATABASE_APP_ROLE, created when missing) what the app needs and nothing more:
reading and writing its tables, but on the ledger only SELECT and INSERT (no UPDATE, DELETE
or TRUNCATE), no writes to the migration history, and no TRIGGER, REFERENCES or CREATE
anywhere. The app role owns nothing, so it can alter, drop or disable the triggers of
nothing, and as a non-superuser it cannot turn triggers off with session_replication_role.
It may create temporary tables (settlement and payouts use them).
"""

import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

LEDGER_TABLES = ("payments_ledgeraccount", "payments_ledgertransaction", "payments_ledgerentry")

GRANTS = """
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role};
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role};
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};
REVOKE INSERT, UPDATE, DELETE ON django_migrations FROM {role};
REVOKE UPDATE, DELETE ON {ledger} FROM {role};
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {role};
"""


def app_role_grant(*, using: str = DEFAULT_DB_ALIAS) -> None:
    """Create the app role if it is missing and give it exactly its rights on this database."""
    connection = connections[using]
    role, password = settings.DATABASE_APP_ROLE, settings.DATABASE_APP_PASSWORD
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", role):
        raise ImproperlyConfigured(f"The app's database role {role!r} is not a plain role name.")
    if role == connection.settings_dict["USER"]:
        return  # one role for app and migrations: nothing to grant itself
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
        row = cursor.fetchone()
        if row is None:
            try:
                cursor.execute(
                    f'CREATE ROLE "{role}" LOGIN' + (" PASSWORD %s" if password else ""),
                    [password] if password else None,
                )
            except DatabaseError:
                # Another database of this server (a parallel test run) created it first.
                cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
                row = cursor.fetchone()
                if row is None:
                    raise
        elif row[0]:
            raise ImproperlyConfigured(f"The app's database role {role} is a superuser: nothing could hold it back.")
        elif password:
            cursor.execute(f'ALTER ROLE "{role}" LOGIN PASSWORD %s', [password])
        cursor.execute("SELECT quote_ident(current_database())")
        database = cursor.fetchone()[0]
        cursor.execute(GRANTS.format(role=f'"{role}"', ledger=", ".join(LEDGER_TABLES), database=database))


def app_role_grant_after_migrate(sender, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    # `flush` (the tests' cleanup) sends post_migrate too, without a plan: it only empties
    # tables, and the grants on them stand.
    if "plan" in kwargs:
        app_role_grant(using=using)
