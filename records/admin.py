"""The Django admin, for the data team (superusers)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from simple_history.admin import SimpleHistoryAdmin

from records.fields import AMENDABLE_FIELDS, CORE_FIELDS, FACET_FIELDS, FIELD_NAMES, InvalidValue
from records.models import Changeset, Channel, Conflict, ExportJob, ImportRun, Record, Register
from records.services import imports
from records.services.amend import StaleRecord, record_amend, record_create
from records.spreadsheets import SpreadsheetError
from records.tables import BROWSE_COLUMNS


class RecordAdminForm(forms.ModelForm):
    """A record's fields, parsed as everywhere else, with the reason every change needs."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why: kept in the record's history (channel: admin).",
    )
    opened_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Record
        fields = ["organisation", *FIELD_NAMES]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["opened_version"].initial = self.instance.version

    def clean(self):
        cleaned = super().clean()
        for core in CORE_FIELDS:
            if core.name in cleaned:
                try:
                    cleaned[core.name] = core.parse(cleaned[core.name])
                except InvalidValue as error:
                    self.add_error(core.name, f"{core.label} {error}.")
        opened = cleaned.get("opened_version")
        if self.instance.pk and opened and opened != self.instance.version:
            raise forms.ValidationError(
                "This record changed since you opened it (it is now at version "
                f"{self.instance.version}): open it again to see the change."
            )
        return cleaned


@admin.register(Record)
class RecordAdmin(SimpleHistoryAdmin):
    """Records with their history, changed through records/services/ like everywhere else.

    Every save asks for a reason and goes through the same service as the web (channel
    admin), so the amendment rules, the version check and the history row are the same.
    Deleting is left to the site, where it is a soft delete with a reason. The search
    and filters match the records browser's, so `make bench` can compare the two on the
    same data.
    """

    form = RecordAdminForm
    list_display = [*BROWSE_COLUMNS, "organisation"]
    list_filter = [core.name for core in FACET_FIELDS]
    search_fields = ["name", "reference", "postcode"]
    list_select_related = ["organisation"]
    history_list_display = ["channel", "history_change_reason"]
    readonly_fields = ["version", "amendments", "extra", "deleted_at"]

    def get_readonly_fields(self, request, obj=None):
        # The organisation and the reference identify a record once it exists.
        fixed = ["organisation", "reference"] if obj is not None else []
        return [*fixed, *self.readonly_fields]

    def get_fields(self, request, obj=None):
        fields = ["organisation", *FIELD_NAMES, "reason", "opened_version"]
        return fields + (["version", "amendments", "extra", "deleted_at"] if obj else [])

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            created = record_create(
                organisation=data["organisation"],
                values={name: data[name] for name in FIELD_NAMES if name in data},
                reason=data["reason"],
                by=request.user,
                channel=Channel.ADMIN,
            )
            obj.pk = created.pk
            return
        values = {name: data[name] for name in form.changed_data if name in AMENDABLE_FIELDS}
        try:
            record_amend(
                record=obj,
                values=values,
                reason=data["reason"],
                by=request.user,
                version=data.get("opened_version"),
                channel=Channel.ADMIN,
            )
        except StaleRecord:
            # Between the form's check and the save: rare, and nothing was written.
            messages.error(request, "Not saved: the record changed meanwhile. Open it again.")


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
    """Import runs; adding one here starts the same pipeline as the web and the command line.

    The admin takes the file and the organisation; the run's page in the app then shows
    the preview and asks for the reason and the mode, as for any import.
    """

    list_display = ["id", "organisation", "filename", "status", "mode", "created_by", "created_at"]
    list_filter = ["status", "mode", "channel"]
    readonly_fields = [f.name for f in ImportRun._meta.fields]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            return ImportUploadAdminForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organisation", "file"]
        return super().get_fields(request, obj)

    def add_view(self, request, form_url="", extra_context=None):
        if request.method == "POST":
            form = ImportUploadAdminForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                try:
                    run = imports.import_create(
                        organisation=form.cleaned_data["organisation"],
                        user=request.user,
                        file=upload,
                        filename=upload.name,
                        channel=Channel.ADMIN,
                    )
                except SpreadsheetError as error:
                    # Nothing was stored; back to the empty form, with the reason.
                    messages.error(request, str(error))
                    return redirect(request.path)
                else:
                    return redirect(
                        "records:import_detail", org_slug=run.organisation.slug, pk=run.pk
                    )
        return super().add_view(request, form_url, extra_context)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ImportUploadAdminForm(forms.ModelForm):
    file = forms.FileField(allow_empty_file=True, help_text="CSV or XLSX.")

    class Meta:
        model = ImportRun
        fields = ["organisation"]


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "organisation", "format", "status", "created_by", "created_at"]


@admin.register(Register)
class RegisterAdmin(admin.ModelAdmin):
    list_display = ["organisation"]
