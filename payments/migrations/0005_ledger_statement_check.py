"""The balance check runs once per INSERT statement over the rows it wrote, not once per row.

Every ledger transaction's entries are written by one statement (ledger_post's bulk
insert, settlement's and payouts' INSERT … SELECT), so checking each statement's
transactions is as strict as the deferred per-row check it replaces, and it costs one
set-based query instead of one query per entry (settlement writes hundreds of thousands).
A transaction without entries cannot unbalance anything; the per-row deferred check for it
cost more than the whole settlement it guarded, so payments.services.reconcile reports
such transactions instead.
"""

from django.db import migrations

SQL = """
DROP TRIGGER ledger_entry_balanced ON payments_ledgerentry;
DROP TRIGGER ledger_transaction_has_entries ON payments_ledgertransaction;
DROP FUNCTION ledger_check_balanced();

CREATE FUNCTION ledger_entries_check_balanced() RETURNS trigger AS $$
DECLARE
    bad record;
BEGIN
    -- Index lookups per written transaction: the ledger grows, the statements do not.
    SELECT e.transaction_id, sum(e.amount_minor) AS total, count(*) AS n INTO bad
      FROM (SELECT DISTINCT transaction_id FROM new_entries) w
      JOIN LATERAL (SELECT * FROM payments_ledgerentry x WHERE x.transaction_id = w.transaction_id) e ON true
     GROUP BY e.transaction_id
    HAVING sum(e.amount_minor) <> 0 OR count(*) < 2
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced: % entries summing to %', bad.transaction_id, bad.n, bad.total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_entries_balanced
    AFTER INSERT ON payments_ledgerentry
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_check_balanced();

"""

REVERSE = """
DROP TRIGGER ledger_entries_balanced ON payments_ledgerentry;
DROP FUNCTION ledger_entries_check_balanced();

CREATE FUNCTION ledger_check_balanced() RETURNS trigger AS $$
DECLARE
    total bigint;
    n integer;
    txn bigint;
BEGIN
    IF TG_TABLE_NAME = 'payments_ledgerentry' THEN
        txn := NEW.transaction_id;
    ELSE
        txn := NEW.id;
    END IF;
    SELECT coalesce(sum(amount_minor), 0), count(*) INTO total, n
      FROM payments_ledgerentry WHERE transaction_id = txn;
    IF n < 2 OR total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced: % entries summing to %', txn, n, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE CONSTRAINT TRIGGER ledger_entry_balanced AFTER INSERT ON payments_ledgerentry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();
CREATE CONSTRAINT TRIGGER ledger_transaction_has_entries AFTER INSERT ON payments_ledgertransaction
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();
"""


class Migration(migrations.Migration):
    dependencies = [("payments", "0004_payouts")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
