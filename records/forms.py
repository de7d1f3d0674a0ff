"""Forms of the register's pages."""

from __future__ import annotations

from django import forms
from django.conf import settings

from records.models import Conflict, ImportRun
from records.services.imports.mapping import target_choices
from records.services.imports.rows import EXTRA_PREFIX
from records.spreadsheets.reading import human_size

REASON_HELP = "Kept with every change this makes, for whoever reviews it later."


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
    reason = forms.CharField(
        max_length=1000,
        help_text=REASON_HELP,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "e.g. Monthly refresh from the source register"}
        ),
    )
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
    resolution = forms.ChoiceField(choices=Conflict.Resolution.choices, widget=forms.RadioSelect)
    reason = forms.CharField(
        max_length=1000,
        help_text=REASON_HELP,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
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
