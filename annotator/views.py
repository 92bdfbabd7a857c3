"""The browser UI's HTML shell. Every UI route serves the same page; its ES
modules (``frontend/``, served as static files under ``ui/``) read the path and
talk to the JSON API. The shell sets the CSRF cookie the API's unsafe requests
echo back in ``X-CSRFToken``."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template import RequestContext, Template
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

SHELL = settings.BASE_DIR / "frontend" / "index.html"
# The UI needs nothing from elsewhere and no inline script or style: a page that
# got a user's text into its markup still could not run it.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


@require_GET
@ensure_csrf_cookie
def app_shell(request: HttpRequest, **_route: object) -> HttpResponse:
    """``/``, ``/login``, ``/account``, ``/projects/new``, ``/projects/<id>/label|review|models|import|team``,
    ``/invite/<token>``, ``/password-reset`` and ``/password-reset/<uid>/<token>``."""
    html = Template(SHELL.read_text(encoding="utf-8")).render(RequestContext(request))
    response = HttpResponse(html)
    response["Cache-Control"] = "no-cache"
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
