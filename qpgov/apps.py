from django.apps import AppConfig


class QpgovConfig(AppConfig):
    name = "qpgov"
    verbose_name = "qpgov core"
