from django.db import migrations, models

# The order line's share becomes a plain id: orders sits below referrals, so neither its
# models nor (from here on) its migrations may depend on referrals'. The column and its
# index stay as they are; only the foreign-key constraint goes.
_DROP_SHARE_FK = """
DO $$
DECLARE name text;
BEGIN
    SELECT c.conname INTO name
      FROM pg_constraint c
      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
     WHERE c.conrelid = 'orders_orderline'::regclass AND c.contype = 'f' AND a.attname = 'share_id';
    IF name IS NOT NULL THEN
        EXECUTE format('ALTER TABLE orders_orderline DROP CONSTRAINT %I', name);
    END IF;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0006_index_diet"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(_DROP_SHARE_FK, reverse_sql=migrations.RunSQL.noop)],
            state_operations=[
                migrations.RemoveIndex(model_name="orderline", name="order_line_share"),
                migrations.RemoveField(model_name="orderline", name="share"),
                migrations.AddField(
                    model_name="orderline", name="share_id", field=models.BigIntegerField(blank=True, null=True)
                ),
                migrations.AddIndex(
                    model_name="orderline",
                    index=models.Index(
                        condition=models.Q(("share_id__isnull", False)), fields=["share_id"], name="order_line_share"
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="order",
            name="held_by",
            field=models.CharField(
                blank=True,
                choices=[("buyer_protection", "Buyer protection case"), ("settlement", "Settlement check")],
                db_default="",
                default="",
                max_length=24,
            ),
        ),
        # Holds placed before: disputes named theirs by a prefix of the reason; the rest are
        # settlement's.
        migrations.RunSQL(
            "UPDATE orders_order SET held_by = CASE WHEN held_reason LIKE 'Buyer protection case%' "
            "THEN 'buyer_protection' ELSE 'settlement' END WHERE is_held",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="orderevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("placed", "Placed"),
                    ("paid", "Paid"),
                    ("payment_failed", "Payment failed"),
                    ("expired", "Expired"),
                    ("shipped", "Shipped"),
                    ("ship_reminder", "Ship reminder"),
                    ("received", "Received"),
                    ("cancelled", "Cancelled"),
                    ("held", "Held"),
                    ("hold_released", "Hold released"),
                    ("settled", "Settled"),
                ],
                max_length=40,
            ),
        ),
    ]
