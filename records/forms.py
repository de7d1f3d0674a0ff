"""Forms of the register, their fields derived from the core field declaration.

Values are parsed by the declaration (records/fields.py), the same parser an import
uses, so a form accepts "£1,200" or "31/01/2020" exactly as a spreadsheet would. Every
form that changes records asks for a reason; forms that change one record carry the
version they were opened at, so a stale save is refused (records/services/amend.py).
The import and conflict forms come last.
"""

from __future__ import annotations

from collections.abc import Iterable

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from records.fields import AMENDABLE_FIELDS, FIELD_NAMES, FIELDS_BY_NAME, CoreField, InvalidValue
from records.models import Conflict, ImportRun, Record
from records.services.imports.mapping import target_choices
from records.services.imports.rows import EXTRA_PREFIX
from records.spreadsheets.reading import human_size


def reason_field() -> forms.CharField:
    """The reason every change needs; it is stored on the history row."""
    return forms.CharField(
        label="Reason",
        max_length=1000,
        error_messages={"required": "Give a reason: it is kept in the history."},
        widget=forms.TextInput(
            attrs={"placeholder": "Why? (kept in the history)", "autocomplete": "off"}
        ),
    )


def _widget(core: CoreField) -> forms.Widget:
    if core.choices is not None:
        return forms.Select(choices=core.choices.choices)
    if core.kind.value == "date":
        return forms.TextInput(attrs={"type": "date"})
    if core.kind.value == "decimal":
        return forms.TextInput(attrs={"inputmode": "decimal"})
    return forms.TextInput(attrs={"maxlength": core.max_length})


class CoreValueField(forms.CharField):
    """A core field as a person types it, parsed (and refused) by its declaration."""

    def __init__(self, core: CoreField, **kwargs):
        self.core = core
        super().__init__(
            label=core.label,
            required=core.required,
            help_text=core.help_text,
            widget=_widget(core),
            error_messages={"required": f"{core.label} is required."},
            **kwargs,
        )

    def clean(self, value):
        text = super().clean(value)
        try:
            return self.core.parse(text)
        except InvalidValue as error:
            raise ValidationError(f"{self.core.label} {error}.") from None


def field_text(record, name: str) -> str:
    return FIELDS_BY_NAME[name].to_text(getattr(record, name))


class RecordForm(forms.Form):
    """Some core fields of a record, a reason, and the version the form was opened at.

    `fields` picks the fields (the inline row edits only the table's columns); a form
    for an existing record starts from its values. `form_id` ties every input to a
    <form> elsewhere (a table row cannot contain one).
    """

    def __init__(
        self,
        data=None,
        *,
        record: Record | None = None,
        fields: Iterable[str] = FIELD_NAMES,
        form_id: str | None = None,
        **kwargs,
    ):
        names = [name for name in fields if record is None or name in AMENDABLE_FIELDS]
        if record is not None:
            initial = {name: field_text(record, name) for name in names}
            kwargs["initial"] = {**initial, "version": record.version, **kwargs.get("initial", {})}
        super().__init__(data, **kwargs)
        self.record = record
        for name in names:
            self.fields[name] = CoreValueField(FIELDS_BY_NAME[name])
        self.fields["reason"] = reason_field()
        if record is not None:
            self.fields["version"] = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
        if form_id:
            for field in self.fields.values():
                field.widget.attrs["form"] = form_id

    @property
    def value_names(self) -> list[str]:
        return [name for name in self.fields if name in FIELDS_BY_NAME]

    def values(self) -> dict:
        """The parsed values of the core fields (after is_valid())."""
        return {name: self.cleaned_data[name] for name in self.value_names}


def rebased_form(form: RecordForm, *, record: Record, opened) -> tuple[RecordForm, list[str]]:
    """After a refused save, return the form again at the record's current version.

    Fields the person left as they were now show the newer value, so saving again
    cannot undo someone else's change by accident; fields they changed keep their input.
    Returns the new form and the names of the fields whose input was kept over a newer
    value. `opened` is the history row of the version the form was opened at (None if
    pruned: then every field keeps the person's input).
    """
    initial = {"version": record.version, "reason": form.data.get(form.add_prefix("reason"), "")}
    overwrites = []
    for name in form.value_names:
        typed = form.data.get(form.add_prefix(name), "")
        current = field_text(record, name)
        if opened is not None:
            core = FIELDS_BY_NAME[name]
            try:
                unchanged = core.to_text(core.parse(typed)) == field_text(opened, name)
            except InvalidValue:
                unchanged = False
            if unchanged:
                initial[name] = current
                continue
            if current != field_text(opened, name):
                overwrites.append(name)
        initial[name] = typed
    fresh = RecordForm(
        record=record,
        fields=form.value_names,
        prefix=form.prefix,
        initial=initial,
        form_id=form.fields["reason"].widget.attrs.get("form"),
    )
    return fresh, overwrites


class ReasonForm(forms.Form):
    """A reason, and the version of the record the page showed."""

    reason = reason_field()
    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)


class UndoForm(ReasonForm):
    """A reason and the fields of one change to set back."""

    field = forms.MultipleChoiceField(
        label="Fields to undo",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one field to undo."},
    )

    def __init__(self, *args, choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = choices


class IdsField(forms.Field):
    """The primary keys of the rows ticked in a table (<input name="ids"> repeated)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        try:
            return sorted({int(item) for item in value or []})
        except (TypeError, ValueError):
            raise ValidationError("Select records from the table.") from None


class BulkEditForm(forms.Form):
    """Set one field of the selected records (or of all matching the view) to one value."""

    field = forms.ChoiceField(
        label="Field",
        choices=[(name, FIELDS_BY_NAME[name].label) for name in AMENDABLE_FIELDS],
    )
    value = forms.CharField(
        label="New value",
        required=False,
        widget=forms.TextInput(attrs={"list": "bulk-values", "autocomplete": "off"}),
    )
    reason = reason_field()
    ids = IdsField(required=False)
    all = forms.BooleanField(label="All records matching this view", required=False)
    query = forms.CharField(widget=forms.HiddenInput, required=False)

    def clean(self):
        cleaned = super().clean()
        name = cleaned.get("field")
        if name in FIELDS_BY_NAME:
            core = FIELDS_BY_NAME[name]
            try:
                cleaned["parsed"] = core.parse(cleaned.get("value") or "")
            except InvalidValue as error:
                self.add_error("value", f"{core.label} {error}.")
        if not cleaned.get("all") and not cleaned.get("ids"):
            raise ValidationError("Tick the records to change, or choose all matching this view.")
        return cleaned


# -- imports and conflicts -------------------------------------------------------------


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="Spreadsheet",
        allow_empty_file=True,  # the reader says what is wrong with an empty file
        help_text=f"CSV or XLSX, up to {human_size(settings.IMPORT_MAX_UPLOAD_BYTES)}.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.tsv,.txt,.xlsx"}),
    )
    format = forms.ChoiceField(
        required=False,
        choices=[("", "Detect"), ("csv", "CSV"), ("xlsx", "XLSX")],
    )
    encoding = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Detect"),
            ("utf-8", "UTF-8"),
            ("cp1252", "Windows-1252"),
            ("latin-1", "Latin-1 (ISO-8859-1)"),
            ("utf-16", "UTF-16"),
        ],
        help_text="CSV only. Detected from the file unless you choose.",
    )
    delimiter = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Detect"),
            (",", "Comma"),
            (";", "Semicolon"),
            ("\t", "Tab"),
            ("|", "Vertical bar"),
        ],
        help_text="CSV only.",
    )
    sheet = forms.CharField(
        required=False,
        max_length=100,
        help_text="XLSX only. The first sheet unless you name one.",
    )

    def options(self) -> dict:
        return {
            name: self.cleaned_data[name]
            for name in ("format", "encoding", "delimiter", "sheet")
            if self.cleaned_data.get(name)
        }


class ImportColumnsForm(forms.Form):
    """One choice per file column: a core field, an extra column, or nothing."""

    def __init__(self, *args, pairs: list[list[str]], head: list[list[str]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.headers = [header for header, _ in pairs]
        self.head = head
        choices = target_choices()
        for index, (header, target) in enumerate(pairs):
            initial = EXTRA_PREFIX if target.startswith(EXTRA_PREFIX) else target
            self.fields[f"column_{index}"] = forms.ChoiceField(
                label=header,
                choices=choices,
                initial=initial,
                required=False,
            )

    def choices(self) -> dict[str, str]:
        return {
            header: self.cleaned_data.get(f"column_{index}", "")
            for index, header in enumerate(self.headers)
        }

    def rows(self):
        """(header, the first values of its column, its field) for each column."""
        return [
            (header, [row[index] for row in self.head if index < len(row)], self[f"column_{index}"])
            for index, header in enumerate(self.headers)
        ]


class ImportConfirmForm(forms.Form):
    reason = reason_field()
    mode = forms.ChoiceField(
        choices=ImportRun.Mode.choices,
        initial=ImportRun.Mode.UPSERT,
        widget=forms.RadioSelect,
    )
    skip_invalid = forms.BooleanField(
        required=False,
        label="Skip the invalid rows and import the rest",
    )


class ConflictResolveForm(forms.Form):
    resolution = forms.ChoiceField(
        choices=[
            (Conflict.Resolution.KEEP, "Keep the amendment"),
            (Conflict.Resolution.ACCEPT, "Accept the source value"),
        ],
        widget=forms.RadioSelect,
    )
    reason = reason_field()
    selected = forms.ModelMultipleChoiceField(queryset=Conflict.objects.none(), required=False)
    all_matching = forms.BooleanField(required=False)

    def __init__(self, *args, open_conflicts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["selected"].queryset = open_conflicts

    def clean(self):
        data = super().clean()
        if not data.get("selected") and not data.get("all_matching"):
            raise forms.ValidationError("Choose the conflicts to resolve.")
        return data
