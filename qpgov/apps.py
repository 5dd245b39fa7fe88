from django.apps import AppConfig


class QpgovConfig(AppConfig):
    name = "qpgov"
    verbose_name = "qpgov core"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import m2m_changed, post_save, pre_save

        from . import rolelog, signin

        # No sender: data migrations save historical User models, other classes
        # with the same label; the receivers check the label themselves.
        pre_save.connect(rolelog.remember_flags, dispatch_uid="qpgov.rolelog.flags.pre")
        post_save.connect(rolelog.record_flags, dispatch_uid="qpgov.rolelog.flags.post")
        m2m_changed.connect(rolelog.record_groups, dispatch_uid="qpgov.rolelog.groups")
        user_logged_in.connect(signin.end_session_on_time, dispatch_uid="qpgov.signin.expiry")
