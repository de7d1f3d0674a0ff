"""The register: records, their history, and the operations that change them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Concat, Replace
from simple_history.models import HistoricalRecords

from accounts.models import Organisation
from records.fields import CORE_FIELDS, field_label


class Channel(models.TextChoices):
    """Where a change came from."""

    WEB = "web", "Web"
    BULK = "bulk", "Bulk edit"
    IMPORT = "import", "Import"
    CLI = "cli", "Command line"
    ADMIN = "admin", "Admin"
    API = "api", "API"
    DB = "db", "Direct database change"


# Full-text search over name, reference and postcode (also without its space, so
# "SW1A1AA" finds "SW1A 1AA"), in PostgreSQL's 'simple' configuration: no stemming of
# names, and no extension, so it works on every server including the embedded one.
# An expression index rather than a stored column: at a million rows the stored
# tsvector made inserts ~5 s slower for nothing the index needs. Queries use this same
# expression (records/selectors.py) so that the planner matches it to the index.
SEARCH_DOCUMENT = SearchVector(
    Concat(
        "name",
        Value(" "),
        "reference",
        Value(" "),
        "postcode",
        Value(" "),
        Replace("postcode", Value(" "), Value("")),
        output_field=models.TextField(),
    ),
    config="simple",
)


def _core_fields_model() -> type[models.Model]:
    """Return an abstract model with one column per declared core field."""
    attrs = {core.name: core.model_field() for core in CORE_FIELDS}
    attrs["__module__"] = __name__
    attrs["Meta"] = type("Meta", (), {"abstract": True})
    return type("CoreFields", (models.Model,), attrs)


class HistoryContext(models.Model):
    """What simple-history does not record: where a change came from and what it changed."""

    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.WEB)
    changeset = models.ForeignKey(
        "records.Changeset",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # see HISTORY_INDEXES
    )
    # {"field": [old, new]} in canonical text (see records/fields.py); extra columns as
    # "extra.<key>". changed_fields repeats the keys so a GIN index can find "every
    # change to the postcode" without reading the JSON.
    changes = models.JSONField(default=dict)
    changed_fields = ArrayField(models.CharField(max_length=120), default=list)
    # For direct database changes: the PostgreSQL role that made them.
    db_user = models.CharField(max_length=63, blank=True)

    class Meta:
        abstract = True


class ExplicitHistoricalRecords(HistoricalRecords):
    """simple-history's model, admin and diffs, with history rows written only on purpose.

    Services in records/services/ write every history row themselves, one at a time or
    set-based, with user, reason and channel. Anything that changes a record without
    them (a `save()` in a shell, an UPDATE in psql) is caught by a database trigger and
    recorded as a direct database change, so nothing is recorded twice or not at all.
    """

    def post_save(self, instance, created, using=None, **kwargs):
        return

    def post_delete(self, instance, using=None, **kwargs):
        return

    def _get_history_user_fields(self):
        # History is append-only: deleting a user must not rewrite it (SET_NULL would).
        # Indexed together with the organisation below, not on its own.
        return {
            "history_user": models.ForeignKey(
                settings.AUTH_USER_MODEL,
                null=True,
                related_name="+",
                on_delete=models.PROTECT,
                db_index=False,
            )
        }

    def get_meta_options(self, model):
        options = super().get_meta_options(model)
        options["indexes"] = HISTORY_INDEXES
        return options


# The timeline reads one record's rows newest first; the changes page reads an
# organisation's rows newest first, narrowed by user, channel, operation, field or
# reason. Every index leads with what those pages filter on, and the ones a page walks
# in order end with the page's whole order (date, then id, the tie-breaker that keeps
# paging stable through the thousands of rows one operation writes at one moment):
# an index that stops at the date cannot give that order, and the planner then walks
# history_org_recent instead, through every newer row of other channels or people.
HISTORY_INDEXES = [
    models.Index(fields=["id", "-history_date"], name="history_record"),
    models.Index(
        fields=["organisation", "-history_date", "-history_id"], name="history_org_recent"
    ),
    # The rows written one at a time (no changeset): where a reason search walks when
    # its matches are among the newest (see records/history.py). Import runs, with their
    # millions of rows, are not in it.
    models.Index(
        fields=["organisation", "-history_date", "-history_id"],
        name="history_org_own",
        condition=Q(changeset__isnull=True),
    ),
    models.Index(
        fields=["organisation", "history_user", "-history_date", "-history_id"],
        name="history_org_user",
    ),
    models.Index(
        fields=["organisation", "channel", "-history_date", "-history_id"],
        name="history_org_channel",
    ),
    models.Index(
        fields=["changeset", "-history_date", "-history_id"],
        name="history_changeset",
        condition=Q(changeset__isnull=False),
    ),
    GinIndex(fields=["changed_fields"], name="history_changed_fields"),
    # Reasons of bulk operations are searched on their Changeset (one row per operation);
    # indexing the reason of each of a million imported rows would double the import.
    GinIndex(
        SearchVector("history_change_reason", config="simple"),
        name="history_reason_search",
        condition=Q(changeset__isnull=True),
    ),
]


class RecordQuerySet(models.QuerySet):
    def for_organisation(self, organisation: Organisation) -> RecordQuerySet:
        return self.filter(organisation=organisation)

    def live(self) -> RecordQuerySet:
        return self.filter(deleted_at__isnull=True)

    def deleted(self) -> RecordQuerySet:
        return self.filter(deleted_at__isnull=False)


class Record(_core_fields_model()):
    """One entry of an organisation's register.

    `amendments` holds, for each field a person changed by hand, the source value the
    amendment replaced and who made it and why:
    {"name": {"source": "…", "by": 3, "by_name": "bob", "at": "…", "reason": "…"}}.
    An import leaves amended fields alone (see records/services/imports.py).

    `version` goes up by one with every change to the record's data, for optimistic
    locking: a form carries the version it was opened at.
    """

    # Not indexed on its own: every index of the table leads with it, the unique
    # (organisation, reference) first. A redundant index costs each imported row.
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    extra = models.JSONField(default=dict, blank=True)
    amendments = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=1)
    # A hash of the source row this record was last imported from (its raw cells and the
    # column map). A re-import skips, without parsing, every row whose hash is unchanged:
    # by the amendment rules such a row can change nothing. Any change made outside the
    # app clears it (migration 0004), so the next import compares that record in full.
    source_hash = models.BigIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    objects = RecordQuerySet.as_manager()
    history = ExplicitHistoricalRecords(
        bases=[HistoryContext],
        excluded_fields=["updated_at", "source_hash"],
        history_change_reason_field=models.TextField(null=True),
        history_id_field=models.BigAutoField(primary_key=True),
        no_db_index=["id", "organisation"],  # see HISTORY_INDEXES
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "reference"], name="records_record_reference_unique"
            ),
        ]
        # Browse queries always filter on organisation and on live rows (deleted_at IS
        # NULL), so the indexes lead with the organisation and are partial; the sort
        # indexes end with id, the tie-breaker that makes paging stable.
        indexes = [
            models.Index(
                fields=["organisation", "name", "id"],
                name="records_live_name",
                condition=Q(deleted_at__isnull=True),
            ),
            models.Index(
                fields=["organisation", "income", "id"],
                name="records_live_income",
                condition=Q(deleted_at__isnull=True),
            ),
            models.Index(
                fields=["organisation", "registered_on", "id"],
                name="records_live_registered_on",
                condition=Q(deleted_at__isnull=True),
            ),
            models.Index(
                fields=["organisation", "name"],
                name="records_amended",
                condition=Q(deleted_at__isnull=True) & ~Q(amendments={}),
            ),
            models.Index(
                fields=["organisation", "deleted_at"],
                name="records_deleted",
                condition=Q(deleted_at__isnull=False),
            ),
            # Status, category and region have no index of their own: facets count them in
            # one scan, and a filter on them walks the name index (see selectors.py).
            # Every index here is paid for by every imported row.
            GinIndex(SEARCH_DOCUMENT, name="records_search"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.name}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def is_amended(self, field: str) -> bool:
        return field in self.amendments


class Changeset(models.Model):
    """One operation that changed many records at once: a bulk edit, an import run, …"""

    class Kind(models.TextChoices):
        BULK_EDIT = "bulk_edit", "Bulk edit"
        IMPORT = "import", "Import"
        CONFLICTS = "conflicts", "Conflict resolution"
        REVERT = "revert", "Revert"

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    reason = models.TextField()
    summary = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["organisation", "-created_at"], name="changeset_recent")]

    def __str__(self) -> str:
        return self.summary or f"{self.get_kind_display()} #{self.pk}"


class Conflict(models.Model):
    """An import brought a new source value for a field a person had amended."""

    class Resolution(models.TextChoices):
        KEEP = "keep", "Kept the amendment"
        ACCEPT = "accept", "Accepted the source value"

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="conflicts")
    field = models.CharField(max_length=64)
    old_source = models.TextField(blank=True)
    new_source = models.TextField(blank=True)
    amended_value = models.TextField(blank=True)
    amended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    amended_reason = models.TextField(blank=True)
    amended_at = models.DateTimeField(null=True)
    import_run = models.ForeignKey(
        "ImportRun", on_delete=models.PROTECT, null=True, related_name="conflicts"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    resolution = models.CharField(max_length=8, choices=Resolution.choices, blank=True)
    resolution_reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["record", "field"],
                condition=Q(resolved_at__isnull=True),
                name="conflict_one_open_per_field",
            )
        ]
        indexes = [
            models.Index(
                fields=["organisation", "-created_at"],
                name="conflict_open",
                condition=Q(resolved_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.record.reference}.{self.field}"

    @property
    def field_label(self) -> str:
        """The field as people know it ("Income", not "income")."""
        return field_label(self.field)


class ImportRun(models.Model):
    """One uploaded spreadsheet, from preview to apply: a changeset of the register."""

    class Status(models.TextChoices):
        MAPPING = "mapping", "Choose columns"
        PREVIEWING = "previewing", "Checking"
        PREVIEWED = "previewed", "Ready to apply"
        INVALID = "invalid", "Cannot be read"
        QUEUED = "queued", "Waiting to apply"
        APPLYING = "applying", "Applying"
        APPLIED = "applied", "Applied"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Discarded"

    class Mode(models.TextChoices):
        UPSERT = "upsert", "Add and update (records missing from the file are left alone)"
        FULL_REFRESH = (
            "full_refresh",
            "Full refresh (records missing from the file are marked removed)",
        )

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.WEB)
    file = models.FileField(upload_to="imports/%Y/%m/")
    filename = models.CharField(max_length=255)
    file_size = models.BigIntegerField(default=0)
    # How to read the file: format ("csv"/"xlsx"), encoding, delimiter, sheet; and where
    # each column goes, in file order: [[header, field name | "extra:<key>" | ""], …]
    # (a list: jsonb does not keep the order of an object's keys).
    options = models.JSONField(default=dict, blank=True)
    column_map = models.JSONField(default=list, blank=True)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.UPSERT)
    skip_invalid = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PREVIEWING)
    # Progress of the running job, written from a connection of its own so that it is
    # visible while the job's transaction is open; a job that stops beating is dead.
    phase = models.CharField(max_length=80, blank=True)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    processed_rows = models.BigIntegerField(default=0)
    total_rows = models.BigIntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # {"new": n, "changed": n, "unchanged": n, "conflicting": n, "invalid": n, "removed": n}
    counts = models.JSONField(default=dict, blank=True)
    # Samples of each kind of row for the preview page.
    samples = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    changeset = models.OneToOneField(
        Changeset, on_delete=models.PROTECT, null=True, blank=True, related_name="import_run"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organisation", "-created_at"], name="import_recent")]

    def __str__(self) -> str:
        return f"Import #{self.pk} ({self.filename})"


class ImportIssue(models.Model):
    """One problem with one cell (or row) of an import's file."""

    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="issues")
    row = models.PositiveIntegerField(help_text="Spreadsheet row number; the header is row 1.")
    column = models.CharField(max_length=255, blank=True)
    message = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["run", "row"], name="import_issue_row")]

    def __str__(self) -> str:
        return f"Row {self.row}, {self.column}: {self.message}"


class ExportJob(models.Model):
    """A spreadsheet too large to build during a request, built by a worker."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    format = models.CharField(max_length=4)
    view = models.CharField(max_length=32, default="records")
    query = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    phase = models.CharField(max_length=80, blank=True)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    processed_rows = models.BigIntegerField(default=0)
    total_rows = models.BigIntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    file = models.FileField(upload_to="exports/%Y/%m/", blank=True)
    filename = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organisation", "-created_at"], name="export_recent")]

    def __str__(self) -> str:
        return f"Export #{self.pk} ({self.format})"


class Register(models.Model):
    """An organisation's register settings: the remembered import mapping and export columns."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, related_name="register"
    )
    # {normalised file header: field name | "extra:<key>" | ""} remembered from imports.
    column_map = models.JSONField(default=dict, blank=True)
    # The `extra` keys seen in this organisation, in first-seen order (export columns).
    extra_columns = ArrayField(models.CharField(max_length=120), default=list, blank=True)

    def __str__(self) -> str:
        return f"Register of {self.organisation}"


class FacetCount(models.Model):
    """How many live records have each value of each facet field, kept by the database.

    Triggers on records_record (migration 0007) add a row for each (organisation,
    field, value) a statement changed, holding the difference it made: the count is
    the sum of an organisation's rows. In the writing transaction, so the sums are
    exactly what a scan would count, for every channel, psql included. A periodic job
    folds the rows into one per value (services/register.py, facet_counts_compact).
    The browser's unfiltered facets read these instead of scanning the register.
    """

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    field = models.CharField(max_length=32)
    value = models.TextField(null=True)
    count = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["organisation", "field", "value"], name="facet_count")]

    def __str__(self) -> str:
        return f"{self.field}={self.value}: {self.count:+}"


class StoredFile(models.Model):
    """A file kept in PostgreSQL (see records/storage.py), in chunks."""

    name = models.CharField(max_length=255, unique=True)
    size = models.BigIntegerField(default=0)
    # How each chunk is stored: "zlib" (compressed by the storage) or "" (as it came:
    # files stored before compression).
    compression = models.CharField(max_length=8, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class StoredFileChunk(models.Model):
    file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["file", "index"], name="stored_file_chunk_unique")
        ]

    def __str__(self) -> str:
        return f"{self.file_id}#{self.index}"
