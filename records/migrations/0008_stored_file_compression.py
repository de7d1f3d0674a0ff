"""Stored files' chunks compressed by the storage (records/storage.py), not by PostgreSQL.

StoredFile.compression says how a file's chunks are stored: files stored before this
keep "" (read as they are), new ones are "zlib". The column keeps its default in the
database, so that a server still running the previous code can store files while the
new one is rolled out (they read as they are). STORAGE EXTERNAL keeps PostgreSQL
from compressing the (already compressed) chunks again; it changes only how new rows
are stored, so it is instant on a table of any size.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("records", "0007_facet_counts"),
    ]

    operations = [
        migrations.AddField(
            model_name="storedfile",
            name="compression",
            field=models.CharField(blank=True, db_default="", default="", max_length=8),
        ),
        migrations.RunSQL(
            "ALTER TABLE records_storedfilechunk ALTER COLUMN data SET STORAGE EXTERNAL",
            "ALTER TABLE records_storedfilechunk ALTER COLUMN data SET STORAGE EXTENDED",
        ),
    ]
