"""Facet counts kept by the database: the browser's unfiltered facets without a scan.

Counting the live records per status, category and region of a million-record
organisation is a scan of the whole register (0.2–0.4 s) on every visit of the
browser. Instead, a statement-level trigger for each of INSERT, UPDATE and DELETE on
records_record adds to records_facetcount, per (organisation, field, value), the
difference the statement made to the live records (deleted_at IS NULL): one small
INSERT per statement, whatever its size, and nothing for a statement that changed no
facet value or liveness (HAVING <> 0). It runs in the writer's transaction, so the
sums are exact for every snapshot, whatever wrote the records (the app, an import,
psql). records.facet_counts_compact folds the rows periodically.

The fields are written out here, not read from records/fields.py: a migration is a
fixed step. A new facet field needs a migration that replaces these functions (and
counts the field anew).
"""

from django.db import migrations, models

FIELDS = ("status", "category", "region")


def _values(alias: str) -> str:
    pairs = ", ".join(f"('{name}', {alias}.{name}::text)" for name in FIELDS)
    return f"(VALUES {pairs}) AS f(field, value)"


def _add(combinations: str) -> str:
    """INSERT the per-value sums of `combinations` (organisation, fields…, n)."""
    return f"""
    INSERT INTO records_facetcount (organisation_id, field, value, count)
    SELECT c.organisation_id, f.field, f.value, sum(c.n)
      FROM ({combinations}) AS c CROSS JOIN LATERAL {_values("c")}
     GROUP BY 1, 2, 3
    HAVING sum(c.n) <> 0;
    """


COLUMNS = ", ".join(("organisation_id", *FIELDS))
LIVE = "WHERE deleted_at IS NULL"
# Each side is grouped by its combination of values first: a few hundred rows to
# spread over the fields, however many records the statement wrote.
INSERTED = f"SELECT {COLUMNS}, count(*) AS n FROM new_rows {LIVE} GROUP BY {COLUMNS}"
DELETED = f"SELECT {COLUMNS}, -count(*) AS n FROM old_rows {LIVE} GROUP BY {COLUMNS}"
UPDATED = f"SELECT {COLUMNS}, sum(n) AS n FROM ({INSERTED} UNION ALL {DELETED}) AS u GROUP BY {COLUMNS}"

# Everything live now, counted afresh: the backfill (and tests/…/test_facet_counts.py).
RECOUNT = _add(f"SELECT {COLUMNS}, count(*) AS n FROM records_record {LIVE} GROUP BY {COLUMNS}")


def _function(name: str, body: str) -> str:
    return f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {body}
    RETURN NULL;
END $$;
"""


FORWARD = (
    _function("records_facet_counts_insert", _add(INSERTED))
    + _function("records_facet_counts_update", _add(UPDATED))
    + _function("records_facet_counts_delete", _add(DELETED))
    # TRUNCATE fires no DELETE trigger: it empties the counts with the records.
    + _function("records_facet_counts_truncate", "DELETE FROM records_facetcount;")
    + """
CREATE TRIGGER records_facet_counts_insert AFTER INSERT ON records_record
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION records_facet_counts_insert();
CREATE TRIGGER records_facet_counts_update AFTER UPDATE ON records_record
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION records_facet_counts_update();
CREATE TRIGGER records_facet_counts_delete AFTER DELETE ON records_record
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION records_facet_counts_delete();
CREATE TRIGGER records_facet_counts_truncate AFTER TRUNCATE ON records_record
    FOR EACH STATEMENT EXECUTE FUNCTION records_facet_counts_truncate();
"""
    + RECOUNT
)

BACKWARD = """
DROP TRIGGER records_facet_counts_insert ON records_record;
DROP TRIGGER records_facet_counts_update ON records_record;
DROP TRIGGER records_facet_counts_delete ON records_record;
DROP TRIGGER records_facet_counts_truncate ON records_record;
DROP FUNCTION records_facet_counts_insert();
DROP FUNCTION records_facet_counts_update();
DROP FUNCTION records_facet_counts_delete();
DROP FUNCTION records_facet_counts_truncate();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("records", "0006_import_staging"),
    ]

    operations = [
        migrations.CreateModel(
            name="FacetCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("field", models.CharField(max_length=32)),
                ("value", models.TextField(null=True)),
                ("count", models.BigIntegerField()),
                (
                    "organisation",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.organisation",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["organisation", "field", "value"], name="facet_count"
                    )
                ],
            },
        ),
        # Triggers and the first counts in one transaction: no write falls between.
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
