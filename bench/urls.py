"""The real URL conf plus one bare view: the floor the page benchmarks are measured against."""

from django.http import HttpResponse
from django.urls import path

from qpgov.urls import urlpatterns as qpgov_urlpatterns


def bare(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("bench/bare", bare), *qpgov_urlpatterns]
