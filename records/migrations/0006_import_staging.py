"""Keep each preview's staged rows for its apply; drop a redundant index.

* Schema `import_staging` holds one UNLOGGED table per previewed import run
  (records/services/imports/pipeline.py, keep_staged): the apply takes the checked rows
  back instead of reading and parsing the file again. The tables are scratch: dropped by
  the apply, by discarding the run, and by the hourly records.import_staging_expire job.
* records_record(organisation_id) duplicated the lead column of the unique
  (organisation_id, reference) index and of every other index on the table: it was
  maintained for every imported row and never chosen over them. Dropped by hand: Django
  would also drop and re-create the foreign key, checking every row again.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("records", "0005_history_ordered_indexes"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE SCHEMA IF NOT EXISTS import_staging",
            "DROP SCHEMA IF EXISTS import_staging CASCADE",
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS records_record_organisation_id_42ba6797",
                    "CREATE INDEX records_record_organisation_id_42ba6797 "
                    "ON records_record (organisation_id)",
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="record",
                    name="organisation",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.organisation",
                    ),
                ),
            ],
        ),
    ]
