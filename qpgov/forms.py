from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone

from .models import SignInFailure


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, refusing further tries after repeated failures.

    Failures are counted per username and per client address over a sliding
    window, in the database, so every web host sees the same count.
    """

    def _client_ip(self):
        return self.request.META.get("REMOTE_ADDR") if self.request else None

    def clean(self):
        username = (self.data.get("username") or "")[:150]
        since = timezone.now() - timedelta(minutes=settings.QPGOV_SIGNIN_WINDOW_MINUTES)
        limit = settings.QPGOV_SIGNIN_MAX_FAILURES
        ip = self._client_ip()
        recent = SignInFailure.objects.filter(at__gte=since)
        if (recent.filter(username=username).count() >= limit
                or (ip and recent.filter(ip=ip).count() >= limit * 4)):
            raise forms.ValidationError(
                "Too many failed sign-ins. Wait %(minutes)d minutes and try again.",
                code="throttled",
                params={"minutes": settings.QPGOV_SIGNIN_WINDOW_MINUTES},
            )
        try:
            return super().clean()
        except forms.ValidationError:
            SignInFailure.objects.create(username=username, ip=ip)
            raise
