"""Database guards of the ledger: balanced transactions, append-only entries."""

from django.db import migrations

SQL = """
CREATE FUNCTION ledger_check_balanced() RETURNS trigger AS $$
DECLARE
    total bigint;
    n integer;
    txn bigint;
BEGIN
    -- Each branch touches only the columns its table has.
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

-- Checked at commit, after every entry of the transaction is in.
CREATE CONSTRAINT TRIGGER ledger_entry_balanced
    AFTER INSERT ON payments_ledgerentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();

CREATE CONSTRAINT TRIGGER ledger_transaction_has_entries
    AFTER INSERT ON payments_ledgertransaction
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();

CREATE FUNCTION ledger_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_entry_append_only
    BEFORE UPDATE OR DELETE ON payments_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE TRIGGER ledger_transaction_append_only
    BEFORE UPDATE OR DELETE ON payments_ledgertransaction
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
"""

REVERSE = """
DROP TRIGGER ledger_transaction_append_only ON payments_ledgertransaction;
DROP TRIGGER ledger_entry_append_only ON payments_ledgerentry;
DROP FUNCTION ledger_refuse_change();
DROP TRIGGER ledger_transaction_has_entries ON payments_ledgertransaction;
DROP TRIGGER ledger_entry_balanced ON payments_ledgerentry;
DROP FUNCTION ledger_check_balanced();
"""


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
