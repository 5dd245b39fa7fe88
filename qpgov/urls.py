from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from fleet import views as fleet_views
from qpgov import views
from qpgov.forms import ThrottledAuthenticationForm
from qpgov.metrics import metrics_view

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=ThrottledAuthenticationForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("changes/", include("changes.urls")),
    path("admin/", admin.site.urls),
    path("incidents/", include("incidents.urls")),
    path("nodes/", include("fleet.urls")),
    path("alerts/", include("fleet.alert_urls")),
    path("api/alerts/alertmanager", fleet_views.alertmanager_webhook, name="alertmanager_webhook"),
    path("postmortems/", include("incidents.public_urls")),
    path("audit/", include("qpgov.audit_urls")),
]
