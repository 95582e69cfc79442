"""The statement-level balance check looks each written transaction up by its index.

Written as a join, the planner may merge the written transaction ids with the whole
transaction_id index of payments_ledgerentry (it cannot know the transition table holds
one transaction), a scan of every entry ever posted for each INSERT: settlement grew
quadratic with the ledger. A lateral aggregate cannot be flattened into a join, so each
written transaction costs one index range scan over its own entries, whatever the size of
the ledger.
"""

from django.db import migrations

CHECK = """
CREATE OR REPLACE FUNCTION ledger_entries_check_balanced() RETURNS trigger AS $$
DECLARE
    bad record;
BEGIN
    SELECT w.transaction_id, s.total, s.n INTO bad
      FROM (SELECT DISTINCT transaction_id FROM new_entries) w
     CROSS JOIN LATERAL (
        SELECT sum(x.amount_minor) AS total, count(*) AS n
          FROM payments_ledgerentry x WHERE x.transaction_id = w.transaction_id
     ) s
     WHERE s.total <> 0 OR s.n < 2
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced: % entries summing to %', bad.transaction_id, bad.n, bad.total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

PREVIOUS = """
CREATE OR REPLACE FUNCTION ledger_entries_check_balanced() RETURNS trigger AS $$
DECLARE
    bad record;
BEGIN
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
"""


class Migration(migrations.Migration):
    dependencies = [("payments", "0007_refund_kind")]

    operations = [migrations.RunSQL(CHECK, PREVIOUS)]
