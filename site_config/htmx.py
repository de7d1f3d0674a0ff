"""One rule for when a view answers with a fragment instead of a page."""

from __future__ import annotations

from collections.abc import Mapping

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers


def wants_fragment(request: HttpRequest) -> bool:
    """Return whether to answer an HTMX request with a fragment.

    Boosted navigation and history restores (the back button after htmx's cache was
    emptied) need the whole page.
    """
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page(
    request: HttpRequest,
    page: str,
    context: Mapping,
    *,
    fragments: Mapping[str, str] | None = None,
    default_fragment: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render `page`, or for a fragment request the template for the HTMX target.

    `fragments` maps the id of the element being replaced (HX-Target) to the partial
    that renders it; the page itself includes the same partials, so there is one copy
    of the markup.
    """
    template = page
    if wants_fragment(request):
        template = (fragments or {}).get(request.htmx.target or "", default_fragment or page)
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response
