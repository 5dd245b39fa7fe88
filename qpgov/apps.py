from django.apps import AppConfig


class QpgovConfig(AppConfig):
    name = "qpgov"
    verbose_name = "qpgov core"

    def ready(self):
        from django.contrib.auth.models import User
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import (
            m2m_changed,
            post_migrate,
            post_save,
            pre_delete,
            pre_migrate,
            pre_save,
        )

        from . import rolelog, signin

        # No sender: data migrations save historical User models, other classes
        # with the same label; the receivers check the label themselves.
        pre_save.connect(rolelog.remember_flags, dispatch_uid="qpgov.rolelog.flags.pre")
        post_save.connect(rolelog.record_flags, dispatch_uid="qpgov.rolelog.flags.post")
        pre_delete.connect(rolelog.record_deletion, dispatch_uid="qpgov.rolelog.deletion")
        # Only the groups table: a receiver for every sender would cost every
        # many-to-many add in qpgov a query (Django's fast add needs no listener).
        # Historical group tables are watched while migrations run.
        m2m_changed.connect(rolelog.record_groups, sender=User.groups.through,
                            dispatch_uid="qpgov.rolelog.groups")
        pre_migrate.connect(rolelog.watch_migrations, dispatch_uid="qpgov.rolelog.migrate.pre")
        post_migrate.connect(rolelog.stop_watching_migrations,
                             dispatch_uid="qpgov.rolelog.migrate.post")
        user_logged_in.connect(signin.end_session_on_time, dispatch_uid="qpgov.signin.expiry")

        # Imported for what they register: the system checks, and the Celery
        # queue collector with the /metrics checks.
        from . import checks, metrics  # noqa: F401
