"""The Django admin, for the data team (superusers)."""

from __future__ import annotations

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from records.models import Changeset, Conflict, ExportJob, ImportRun, Record, Register


@admin.register(Record)
class RecordAdmin(SimpleHistoryAdmin):
    """Records with their history.

    Read-only here: every change to a record needs a reason and goes through
    records/services/, which the admin does not collect. The search and filters match
    the records browser's, so `make bench` can compare the two on the same data.
    """

    list_display = [
        "reference",
        "name",
        "status",
        "category",
        "region",
        "postcode",
        "income",
        "registered_on",
        "organisation",
    ]
    list_filter = ["status", "category", "region"]
    search_fields = ["name", "reference", "postcode"]
    list_select_related = ["organisation"]
    history_list_display = ["channel", "history_change_reason"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Changeset)
class ChangesetAdmin(admin.ModelAdmin):
    list_display = ["id", "organisation", "kind", "channel", "user", "reason", "created_at"]
    list_filter = ["kind", "channel"]
    search_fields = ["reason", "summary"]


@admin.register(Conflict)
class ConflictAdmin(admin.ModelAdmin):
    list_display = ["record", "field", "new_source", "amended_value", "created_at", "resolved_at"]
    list_filter = ["field"]
    raw_id_fields = ["record", "import_run"]


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = ["id", "organisation", "filename", "status", "mode", "created_by", "created_at"]
    list_filter = ["status", "mode"]


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "organisation", "format", "status", "created_by", "created_at"]


@admin.register(Register)
class RegisterAdmin(admin.ModelAdmin):
    list_display = ["organisation"]
