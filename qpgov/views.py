from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from . import inbox, rolelog, roles
from .models import Event


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """Sign-in for visitors; for signed-in people, what waits for them (qpgov/inbox.py)."""
    ctx = {}
    if not request.user.is_authenticated:
        ctx["form"] = AuthenticationForm(request)
    else:
        ctx["sections"] = inbox.sections_for(request.user, timezone.now())
    return render(request, "home.html", ctx)


@require_safe
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """200 when the database answers, 503 when it does not. No detail leaks out."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        return HttpResponse("database unreachable\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")


def _deleted_name(event: Event) -> str:
    """A gone account, by the name its role events recorded."""
    username = event.data.get("username")
    gone = f"deleted user #{event.subject_id}"
    return f"{username} ({gone})" if username else gone


@require_safe
@login_required
def role_changes(request: HttpRequest) -> HttpResponse:
    """For the Council: every change to anyone's roles or admin flags, newest first."""
    roles.require(request.user, "view_role_changes")
    events = Event.objects.filter(subject_type=User._meta.label_lower, kind=rolelog.KIND)
    page = Paginator(events.order_by("-seq"), 50).get_page(request.GET.get("page"))
    names = dict(User.objects.filter(pk__in={e.subject_id for e in page}).values_list("pk", "username"))
    rows = [(event, names.get(event.subject_id) or _deleted_name(event)) for event in page]
    return render(request, "role_changes.html", {"page": page, "rows": rows})
