"""The familiar alternative: a django-import-export resource as a team would write it.

Every core column, matched on (organisation, reference), unchanged rows skipped, rows
saved one at a time through the model (the database's audit trigger writes each
change's history row, as it does for any direct change). It is given no `extra`
columns, so it does a little less work than our import.
"""

from __future__ import annotations

from import_export import fields, resources

from records.fields import FIELD_NAMES
from records.models import Record


class FamiliarResource(resources.ModelResource):
    organisation = fields.Field(attribute="organisation_id", column_name="organisation_id")

    class Meta:
        model = Record
        import_id_fields = ("organisation", "reference")
        fields = ("organisation", *FIELD_NAMES)
        skip_unchanged = True
        report_skipped = False
