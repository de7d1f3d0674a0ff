"""Pages that ask for a reason before they change a record: delete, restore, revert a field
to its source, revert to a version, undo a change. Shared by records/views/edit.py and
records/views/history.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect

from records import history
from records.models import Record
from records.services.amend import StaleRecord
from site_config.htmx import render_page


def org_record(request: HttpRequest, pk: int) -> Record:
    """Return a record of the request's organisation, live or deleted, or 404."""
    record = get_object_or_404(Record.objects.for_organisation(request.organisation), pk=pk)
    record.organisation = request.organisation  # already loaded by the gate
    return record


def add_errors(form: Form, error: ValidationError) -> None:
    """Put a service's refusal beside the field it names, or above the form."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def confirm_with_reason(
    request: HttpRequest,
    record: Record,
    *,
    build: Callable[[Record, Any], tuple[Form, Mapping]],
    apply: Callable[[dict], object],
    done: str,
    then: str,
    template: str,
) -> HttpResponse:
    """Show what an action would do and ask why (GET); do it with the reason (POST).

    `build(record, data)` returns the form (a reason and the record's version, at least)
    and the rest of the page's context, for the record as it is. The page carries the
    version it showed: if the record changed since, nothing is done (409) and the page
    comes back at the new version with what changed, the reason kept.
    """
    form, context = build(record, request.POST if request.method == "POST" else None)
    stale, status = None, 200
    if form.is_bound:
        status = 422
        if form.is_valid():
            try:
                apply(form.cleaned_data)
            except StaleRecord as refused:
                record, status = refused.record, 409
                stale = history.changes_since(record, refused.version)
                reason = form.cleaned_data["reason"]
                form, context = build(record, None)
                form.initial["reason"] = reason
            except ValidationError as error:
                add_errors(form, error)
            else:
                messages.success(request, done)
                return redirect(then)
    page = {**context, "record": record, "form": form, "stale": stale}
    return render_page(request, template, page, status=status)
