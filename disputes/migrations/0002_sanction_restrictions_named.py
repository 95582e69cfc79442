from django.db import migrations


class Migration(migrations.Migration):
    """Shops restricted by a listing freeze or suspension sanction before shops recorded who
    restricted them: they were recognised by the reason text, which names them once here."""

    dependencies = [
        ("disputes", "0001_initial"),
        ("shops", "0004_shop_restricted_by"),
    ]

    operations = [
        migrations.RunSQL(
            """
            UPDATE shops_shop s SET restricted_by = 'sanction'
             WHERE s.status <> 'active' AND EXISTS (
                SELECT 1 FROM disputes_sanction x
                 WHERE x.shop_id = s.id AND x.kind IN ('listing_freeze', 'suspension')
                   AND left(btrim(x.reason), 300) = s.suspended_reason)
            """,
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
