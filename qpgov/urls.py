from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from fleet import views as fleet_views
from qpgov import signin, views
from qpgov.metrics import metrics_view

# The admin signs in through the same throttle as everyone else.
admin.site.login_form = signin.AdminSignInForm

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=signin.SignInForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password-reset/", auth_views.PasswordResetView.as_view(),
         name="password_reset"),
    path("accounts/password-reset/sent/", auth_views.PasswordResetDoneView.as_view(),
         name="password_reset_done"),
    path("accounts/reset/<uidb64>/<token>/", signin.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(),
         name="password_reset_complete"),
    path("roles/changes/", views.role_changes, name="role_changes"),
    path("changes/", include("changes.urls")),
    path("admin/", admin.site.urls),
    path("incidents/", include("incidents.urls")),
    path("nodes/", include("fleet.urls")),
    path("alerts/", include("fleet.alert_urls")),
    path("api/alerts/alertmanager", fleet_views.alertmanager_webhook, name="alertmanager_webhook"),
    path("postmortems/", include("incidents.public_urls")),
    path("audit/", include("qpgov.audit_urls")),
]
