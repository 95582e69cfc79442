"""The database protects the books from the app's own role (payments/db_roles.py grants it
no UPDATE, DELETE or TRUNCATE on these tables) and from everyone for what follows:

- an account's code, kind, holder and currency never change, and no account is deleted
  (a changed holder or currency would move a balance without an entry);
- each transaction carries one currency, the posting session's `marketplace.currency`
  (settings put MARKETPLACE_CURRENCY there), and every entry's account must be in it: no
  mixed currencies, and a deployment whose currency setting changed cannot post into the
  old accounts;
- all of a transaction's entries are written by one statement, in the database
  transaction (or savepoint) that created it: nothing can be appended to a transaction
  later, balanced or not. The transaction row's xmin is compared with its entries'.

The checks join the statement-level balance check of 0005/0008: per written transaction
one index range scan over its entries, and a primary-key probe per entry for its account.
"""

from importlib import import_module

from django.db import migrations, models

ADD_CURRENCY = """
ALTER TABLE payments_ledgertransaction ADD COLUMN currency varchar(3);
-- Existing transactions take their accounts' currency (one per deployment until now).
ALTER TABLE payments_ledgertransaction DISABLE TRIGGER ledger_transaction_append_only;
UPDATE payments_ledgertransaction t
   SET currency = coalesce(
       (SELECT a.currency FROM payments_ledgerentry e JOIN payments_ledgeraccount a ON a.id = e.account_id
         WHERE e.transaction_id = t.id LIMIT 1),
       current_setting('marketplace.currency'));
ALTER TABLE payments_ledgertransaction ENABLE TRIGGER ledger_transaction_append_only;
ALTER TABLE payments_ledgertransaction
    ALTER COLUMN currency SET DEFAULT current_setting('marketplace.currency'),
    ALTER COLUMN currency SET NOT NULL;
"""

DROP_CURRENCY = "ALTER TABLE payments_ledgertransaction DROP COLUMN currency;"

GUARDS = """
CREATE OR REPLACE FUNCTION ledger_entries_check_balanced() RETURNS trigger AS $$
DECLARE
    bad record;
BEGIN
    SELECT w.transaction_id, w.written, s.total, s.n, s.with_transaction, s.currency, s.other_account INTO bad
      FROM (SELECT transaction_id, count(*) AS written FROM new_entries GROUP BY transaction_id) w
     CROSS JOIN LATERAL (
        SELECT sum(x.amount_minor) AS total, count(*) AS n,
               bool_and(x.xmin = t.xmin) AS with_transaction,
               min(t.currency) AS currency,
               min(x.account_id) FILTER (
                   WHERE (SELECT a.currency FROM payments_ledgeraccount a WHERE a.id = x.account_id) <> t.currency
               ) AS other_account
          FROM payments_ledgertransaction t
          JOIN payments_ledgerentry x ON x.transaction_id = t.id
         WHERE t.id = w.transaction_id
     ) s
     WHERE s.total <> 0 OR s.n < 2 OR s.n <> w.written OR NOT s.with_transaction OR s.other_account IS NOT NULL
     LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF bad.n <> bad.written OR NOT bad.with_transaction THEN
        RAISE EXCEPTION 'ledger transaction % is closed: its entries are written once, together, by the database '
            'transaction that created it; post a new transaction instead', bad.transaction_id
            USING ERRCODE = 'check_violation';
    END IF;
    IF bad.other_account IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % is in % but account % is not: one currency per transaction, and '
            'MARKETPLACE_CURRENCY must stay the currency of a database that has postings',
            bad.transaction_id, bad.currency, bad.other_account
            USING ERRCODE = 'check_violation';
    END IF;
    RAISE EXCEPTION 'ledger transaction % is unbalanced: % entries summing to %', bad.transaction_id, bad.n, bad.total
        USING ERRCODE = 'check_violation';
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION ledger_account_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'ledger accounts are permanent: DELETE of account % is not allowed', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.code, NEW.kind, NEW.shop_id, NEW.user_id, NEW.order_id, NEW.currency)
       IS DISTINCT FROM (OLD.code, OLD.kind, OLD.shop_id, OLD.user_id, OLD.order_id, OLD.currency) THEN
        RAISE EXCEPTION 'a ledger account''s code, kind, holder and currency never change (account %)', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_account_fixed
    BEFORE UPDATE OR DELETE ON payments_ledgeraccount
    FOR EACH ROW EXECUTE FUNCTION ledger_account_refuse_change();
"""

# Going back restores 0008's balance check.
REVERSE_GUARDS = (
    """
DROP TRIGGER ledger_account_fixed ON payments_ledgeraccount;
DROP FUNCTION ledger_account_refuse_change();
"""
    + import_module("payments.migrations.0008_ledger_check_by_transaction").CHECK
)


class Migration(migrations.Migration):
    dependencies = [("payments", "0010_dead_statuses_and_kinds")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(ADD_CURRENCY, DROP_CURRENCY)],
            state_operations=[
                migrations.AddField(
                    model_name="ledgertransaction",
                    name="currency",
                    field=models.CharField(
                        max_length=3,
                        db_default=models.Func(
                            models.Value("marketplace.currency"),
                            function="current_setting",
                            output_field=models.CharField(),
                        ),
                    ),
                ),
            ],
        ),
        migrations.RunSQL(GUARDS, REVERSE_GUARDS),
    ]
