"""Nobody deletes a review, not even staff: the database refuses it. Folding is the only
moderation. (TRUNCATE, which only test teardown uses, is not a row delete.)"""

from django.db import migrations

SQL = """
CREATE FUNCTION reviews_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'reviews are never deleted; fold a review instead (review %)', OLD.id;
END $$;
CREATE TRIGGER reviews_review_no_delete BEFORE DELETE ON reviews_review
    FOR EACH ROW EXECUTE FUNCTION reviews_refuse_delete();
CREATE TRIGGER reviews_moderation_no_delete BEFORE DELETE ON reviews_reviewmoderation
    FOR EACH ROW EXECUTE FUNCTION reviews_refuse_delete();
"""

REVERSE = """
DROP TRIGGER reviews_moderation_no_delete ON reviews_reviewmoderation;
DROP TRIGGER reviews_review_no_delete ON reviews_review;
DROP FUNCTION reviews_refuse_delete();
"""


class Migration(migrations.Migration):
    dependencies = [("reviews", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
