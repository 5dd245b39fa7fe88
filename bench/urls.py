"""The real URL conf plus the bare views the page benchmarks are measured against."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import path

from qpgov import roles
from qpgov.urls import urlpatterns as qpgov_urlpatterns


def bare(request):
    return HttpResponse("ok", content_type="text/plain")


@login_required
def bare_signed_in(request):
    # What every signed-in page pays before its own work: the session, the
    # user and their roles, each read from the database as Django does.
    return HttpResponse(" ".join(sorted(roles.roles_of(request.user))) or "ok", content_type="text/plain")


urlpatterns = [path("bench/bare", bare), path("bench/bare-signed-in", bare_signed_in), *qpgov_urlpatterns]
