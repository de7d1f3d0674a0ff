"""The filter menus' values come from the facet counts (migration 0007), not the Register.

Register.facet_values was a second copy of what records_facetcount now holds exactly,
kept by every edit under a lock on the organisation's Register row. Derivable, so
dropped: reversing the migration brings the column back empty.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("records", "0008_stored_file_compression"),
    ]

    operations = [
        migrations.RemoveField(model_name="register", name="facet_values"),
    ]
